//! The short path for the requests feed readers make all day: a plain HTTP/1.1 `GET` or
//! `HEAD` of a cached document is answered straight from the cache, with no request or
//! response objects, routing or header maps. Anything else (another path or method, a body,
//! `Expect`, `Upgrade`, HTTP/1.0 or HTTP/2, a malformed or very large head) hands the
//! connection, with the bytes already read, to hyper and axum for the rest of its life, so the
//! short path only ever answers requests whose meaning is beyond doubt.
//!
//! The answers are those of [`super::serve::respond`]: the same negotiation and preconditions,
//! the same headers, plus `Date` and `Content-Length` as hyper would add. Bodies go out with
//! sendfile from the document's file where there is one (see `docfile`).

use std::{
    io::IoSlice,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use bytes::{Buf, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};
use tokio_util::sync::CancellationToken;

use super::{rendered::Rendered, serve::decide};
use crate::AppState;

/// Longest request head the short path reads; a longer one goes to hyper, which has its own
/// limits and answers.
const MAX_HEAD: usize = 8 * 1024;
/// Most header lines the short path looks at; more go to hyper.
const MAX_HEADERS: usize = 32;

/// How a connection left the short path.
pub enum Next {
    /// Closed by the client, an error, the header-read timeout or shutdown: nothing to do.
    Closed,
    /// Not a request for the short path: serve the connection with hyper, from these bytes on.
    HandOff(Prefixed),
}

/// One request the short path answers.
struct Answer {
    doc: Arc<Rendered>,
    head_only: bool,
    not_modified: bool,
    encoding: super::Encoding,
}

enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A complete head of `len` bytes, answered from the cache.
    Answer(usize, Answer),
    /// Anything else.
    Other,
}

/// Answers requests on `stream` until one is not for the short path. Each request head must
/// arrive within `header_timeout` of the previous answer (or of the connection).
pub async fn serve(
    mut stream: TcpStream,
    state: &AppState,
    shutdown: &CancellationToken,
    header_timeout: Duration,
) -> Next {
    let mut buf = BytesMut::with_capacity(4096);
    let mut head = Vec::with_capacity(512);
    loop {
        let deadline = tokio::time::Instant::now() + header_timeout;
        let (len, answer) = loop {
            match parse(&buf, state) {
                Parsed::Answer(len, answer) => break (len, answer),
                Parsed::Partial if buf.len() < MAX_HEAD => {}
                Parsed::Partial | Parsed::Other => {
                    return Next::HandOff(Prefixed {
                        prefix: buf,
                        inner: stream,
                    });
                }
            }
            tokio::select! {
                read = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => {
                    match read {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return Next::Closed,
                    }
                }
                // Between requests a stopping server closes the connection.
                _ = shutdown.cancelled(), if buf.is_empty() => return Next::Closed,
            }
        };
        buf.advance(len);
        let status = write_head(&mut head, state, &answer);
        let body: &[u8] = if answer.head_only || answer.not_modified {
            &[]
        } else {
            answer.doc.body(answer.encoding)
        };
        let written = match answer.doc.file(answer.encoding) {
            Some((file, offset)) if !body.is_empty() => {
                file.send(&stream, &head, offset, body.len()).await
            }
            _ => write_all(&mut stream, &head, body).await,
        };
        if written.is_err() {
            return Next::Closed;
        }
        state.metrics.count_request(status);
    }
}

fn parse(buf: &[u8], state: &AppState) -> Parsed {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        // Malformed, too many headers, or the HTTP/2 preface: hyper's business.
        Err(_) => return Parsed::Other,
    };
    let head_only = match req.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Parsed::Other,
    };
    if req.version != Some(1) {
        return Parsed::Other;
    }
    let target = req.path.unwrap_or_default();
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let Some(doc) = state.feeds.get(path) else {
        return Parsed::Other;
    };
    let (mut accept_encoding, mut if_modified_since) = (None, None);
    let mut if_none_match: Vec<&str> = Vec::new();
    for h in req.headers.iter() {
        let name = h.name;
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("content-length") {
            if h.value != b"0" {
                return Parsed::Other;
            }
        } else if is("transfer-encoding") || is("expect") || is("upgrade") {
            return Parsed::Other;
        } else if is("connection") {
            if !h.value.eq_ignore_ascii_case(b"keep-alive") {
                return Parsed::Other;
            }
        } else if is("accept-encoding") {
            // Several Accept-Encoding lines are rare; hyper joins nothing either, so let
            // the full stack answer them rather than guess.
            if accept_encoding.is_some() {
                return Parsed::Other;
            }
            accept_encoding = Some(text(h.value));
        } else if is("if-none-match") {
            // Present but unreadable (non-ASCII): matches nothing, and If-Modified-Since is
            // still ignored (RFC 9110 §13.1.3).
            if_none_match.push(text(h.value).unwrap_or(""));
        } else if is("if-modified-since") && if_modified_since.is_none() {
            if_modified_since = Some(text(h.value));
        }
    }
    let (not_modified, encoding) = decide(
        &doc,
        accept_encoding.flatten(),
        if_none_match,
        if_modified_since.flatten(),
    );
    Parsed::Answer(
        len,
        Answer {
            doc,
            head_only,
            not_modified,
            encoding,
        },
    )
}

/// A header value as text, when it is visible ASCII (as `HeaderValue::to_str` accepts).
fn text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// The status line and headers of `answer` into `out`; returns the status code.
fn write_head(out: &mut Vec<u8>, state: &AppState, answer: &Answer) -> u16 {
    let doc = &answer.doc;
    out.clear();
    let line = |out: &mut Vec<u8>, name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    let status = if answer.not_modified {
        out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n");
        304
    } else {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        line(out, "content-type", doc.content_type.as_bytes());
        if let Some(coding) = answer.encoding.header() {
            line(out, "content-encoding", coding.as_bytes());
        }
        let length = doc.body(answer.encoding).len().to_string();
        line(out, "content-length", length.as_bytes());
        200
    };
    line(out, "etag", doc.etag(answer.encoding).as_bytes());
    line(out, "last-modified", doc.last_modified.as_bytes());
    line(out, "cache-control", state.feeds.cache_control.as_bytes());
    line(out, "vary", b"Accept-Encoding");
    if let Some(link) = &doc.link {
        line(out, "link", link.as_bytes());
    }
    if doc.is_html() {
        for (name, value) in super::rendered::HTML_SECURITY_HEADERS {
            line(out, name, value.as_bytes());
        }
    }
    with_date(|date| line(out, "date", date.as_bytes()));
    out.extend_from_slice(b"\r\n");
    status
}

/// Calls `f` with the current `Date` header value, formatted once per second per thread.
fn with_date<R>(f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second || text.is_empty() {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        f(text)
    })
}

/// Writes `head` then `body`, in as few system calls as the socket allows.
async fn write_all(
    stream: &mut TcpStream,
    mut head: &[u8],
    mut body: &[u8],
) -> std::io::Result<()> {
    while !head.is_empty() {
        let n = stream
            .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        if n >= head.len() {
            body = &body[n - head.len()..];
            head = &[];
        } else {
            head = &head[n..];
        }
    }
    stream.write_all(body).await
}

/// A connection handed to hyper: the bytes the short path read, then the socket.
pub struct Prefixed {
    prefix: BytesMut,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn header_text_is_visible_ascii_only() {
        assert_eq!(text(b"gzip, br"), Some("gzip, br"));
        assert_eq!(text(b"a\tb"), Some("a\tb"));
        assert_eq!(text("é".as_bytes()), None);
        assert_eq!(text(b"a\x01"), None);
    }
}
