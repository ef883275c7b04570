//! A connection whose writes give up when the client stops reading.
//!
//! hyper waits for a socket to become writable for as long as it takes, so a client that asks
//! for a large feed and then reads nothing would keep its connection (and its place under
//! `MAX_CONNECTIONS`) until the kernel gives up on it, many minutes later. Here a write, flush
//! or shutdown that has made no progress for the timeout fails with `TimedOut`; hyper then
//! drops the connection. A client that reads slowly makes progress, and is not cut off.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// `inner`, with writes bounded by `timeout` without progress.
pub struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    /// The deadline of the write that is waiting now; made at the first wait, then reused.
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether `timer` belongs to the current wait (not to an earlier one that made progress).
    waiting: bool,
}

impl<S> WriteTimeout<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            timer: None,
            waiting: false,
        }
    }
}

impl<S: Unpin> WriteTimeout<S> {
    /// Runs one write-side operation: its result as soon as it has one, an error once it has
    /// waited `timeout` in all since the last operation that completed.
    fn bounded<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if let Poll::Ready(result) = op(Pin::new(&mut self.inner), cx) {
            self.waiting = false;
            return Poll::Ready(result);
        }
        if !self.waiting {
            self.waiting = true;
            let deadline = Instant::now() + self.timeout;
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let timer = self.timer.as_mut().expect("armed above");
        ready!(timer.as_mut().poll(cx));
        self.waiting = false;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client read nothing for {} s",
                self.timeout.as_secs_f32()
            ),
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .bounded(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_write_the_client_never_makes_room_for_fails_after_the_timeout() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut server = WriteTimeout::new(server, TIMEOUT);
        let started = Instant::now();
        let err = server.write_all(&[7; 64 * 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= TIMEOUT, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_not_cut_off() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut server = WriteTimeout::new(server, TIMEOUT);
        // The client's pace is what is tested: slower in all than the timeout, but never
        // silent for that long.
        let reader = tokio::spawn(async move {
            let mut chunk = [0; 1024];
            let mut total = 0;
            loop {
                tokio::time::sleep(TIMEOUT / 10).await;
                match client.read(&mut chunk).await.unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        let started = Instant::now();
        server.write_all(&[7; 16 * 1024]).await.unwrap();
        server.shutdown().await.unwrap();
        drop(server);
        assert_eq!(reader.await.unwrap(), 16 * 1024);
        assert!(started.elapsed() > TIMEOUT, "{:?}", started.elapsed());
    }
}
