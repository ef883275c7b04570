//! HTTP/1.1 over a raw socket, for tests of what goes on the wire: exact headers, pipelining,
//! malformed requests, half-closed and silent clients.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// One HTTP/1.1 response read off a socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Headers without `date`, names lower-cased, sorted: what two answers to the same
    /// request must share.
    pub fn comparable(&self) -> Vec<(String, String)> {
        let mut h: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        h.sort();
        h
    }
}

/// A connection that reads responses, keeping what arrives after each one.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Conn {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> Self {
        Self::over(TcpStream::connect(addr).await.unwrap())
    }

    /// Uses a socket the test made itself.
    pub fn over(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes `bytes`.
    pub async fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    /// Reads what is there (waiting at most 10 s); false at the end of the stream.
    pub async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("no answer within 10 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next response's status line and headers; its body, if any, stays in `buf`.
    pub async fn head(&mut self) -> Reply {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill().await, "connection closed before a response");
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        self.buf.drain(..end);
        Reply {
            status,
            headers,
            body: Vec::new(),
        }
    }

    /// The next response; `head_only` for a HEAD request (no body follows). A body needs a
    /// `Content-Length`.
    pub async fn reply(&mut self, head_only: bool) -> Reply {
        let mut reply = self.head().await;
        if head_only || reply.status == 304 {
            return reply;
        }
        let len: usize = reply
            .header("content-length")
            .expect("content-length")
            .parse()
            .unwrap();
        while self.buf.len() < len {
            assert!(self.fill().await, "connection closed in a body");
        }
        reply.body = self.buf.drain(..len).collect();
        reply
    }

    /// Whether the server closes the connection within `limit` (anything it sends first is
    /// kept in `buf`).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut chunk = [0u8; 16384];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return false,
            }
        }
    }
}

/// A GET request for `path` with `extra` header lines (each ending in CRLF).
pub fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: feeds.example.test\r\n{extra}\r\n")
}
