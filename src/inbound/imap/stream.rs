//! The poller's connection: plain TCP or TLS, with a read budget. async-imap buffers a
//! whole response in memory (up to 512 MiB) before handing it over, so the poller tells the
//! stream how much the next answer may reasonably take and the stream fails the read past it:
//! a broken or hostile server costs a clear error, not the process's memory.

use std::{
    fmt, io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;

/// What may be read before the poller sets a budget of its own (greeting, login, SELECT).
pub(super) const DEFAULT_BUDGET: usize = 1024 * 1024;

/// The transport under the IMAP client.
pub(super) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A transport that refuses to read more than its budget.
pub(super) struct Stream {
    transport: Transport,
    budget: usize,
}

impl Stream {
    /// A plain TCP connection with the default budget.
    pub(super) fn plain(tcp: TcpStream) -> Self {
        Self {
            transport: Transport::Plain(tcp),
            budget: DEFAULT_BUDGET,
        }
    }

    /// A TLS connection with the default budget.
    pub(super) fn tls(tls: TlsStream<TcpStream>) -> Self {
        Self {
            transport: Transport::Tls(Box::new(tls)),
            budget: DEFAULT_BUDGET,
        }
    }

    /// The transport, to be wrapped in TLS.
    pub(super) fn into_transport(self) -> Transport {
        self.transport
    }

    /// Allows `bytes` more to be read from now on (replacing what was left).
    pub(super) fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.transport {
            Transport::Plain(_) => "plain",
            Transport::Tls(_) => "tls",
        };
        f.debug_struct("Stream")
            .field("transport", &kind)
            .field("budget", &self.budget)
            .finish()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.transport {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if let Poll::Ready(Ok(())) = polled {
            let read = buf.filled().len() - before;
            if read > this.budget {
                buf.set_filled(before);
                return Poll::Ready(Err(io::Error::other(
                    "the IMAP server sent more than the poller expected for this command",
                )));
            }
            this.budget -= read;
        }
        polled
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A stream reading from a local server that sends `bytes` bytes and closes.
    async fn sending(bytes: usize) -> Stream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = socket.write_all(&vec![b'x'; bytes]).await;
        });
        Stream::plain(TcpStream::connect(addr).await.unwrap())
    }

    #[tokio::test]
    async fn reads_within_the_budget_pass_and_beyond_it_fail() {
        let mut within = sending(4000).await;
        within.set_budget(4000);
        let mut got = Vec::new();
        within.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 4000);

        let mut beyond = sending(64 * 1024).await;
        beyond.set_budget(1000);
        let err = beyond.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(
            err.to_string().contains("more than the poller expected"),
            "{err}"
        );
    }
}
