//! The short path that answers plain HTTP/1.1 GET/HEAD requests for cached feed documents
//! (src/feeds/fast.rs), over raw sockets: it answers exactly as the full stack does, keeps
//! pipelined requests in order, and hands every other request, with the bytes already read,
//! to hyper without losing or mixing up a byte.

use crate::common;

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// One HTTP/1.1 response read off a socket.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Headers without `date`, names lower-cased, sorted: what must match between paths.
    fn comparable(&self) -> Vec<(String, String)> {
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

/// Reads responses from a connection, keeping what arrives after each one.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(app: &common::TestApp) -> Self {
        Self {
            stream: TcpStream::connect(app.addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("no answer within 10 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next response; `head_only` for a HEAD request (no body follows).
    async fn reply(&mut self, head_only: bool) -> Reply {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill().await, "connection closed before a response");
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        self.buf.drain(..end);
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 304 {
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

    /// Whether the server closes the connection within `limit`.
    async fn closed_within(&mut self, limit: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(
            tokio::time::timeout(limit, self.stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: feeds.example.test\r\n{extra}\r\n")
}

async fn app_with_articles() -> common::TestApp {
    let app = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    for i in 0..3 {
        let r = app
            .put_article(
                &format!("a{i}"),
                &common::article("news", &format!("快速通道测试{i}")),
            )
            .await;
        assert!(r.status().is_success());
    }
    // Every document the tests compare must have caught up, or two fetches could see two
    // versions of it.
    for path in ["/feeds/news.rss", "/feeds/news.json", "/feeds/all.atom"] {
        assert!(
            common::feeds::eventually(Duration::from_secs(5), || common::feeds::feed_contains(
                &app,
                path,
                "快速通道测试2"
            ))
            .await,
            "{path} never showed the last article"
        );
    }
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_the_full_stack_header_for_header_and_byte_for_byte() {
    let app = app_with_articles().await;
    let mut c = Conn::open(&app).await;
    c.send(&get("/feeds/news.rss", "")).await;
    let plain = c.reply(false).await;
    assert_eq!(plain.status, 200);
    assert!(plain.header("date").is_some(), "{plain:?}");
    let etag = plain.header("etag").unwrap().to_owned();
    let modified = plain.header("last-modified").unwrap().to_owned();

    // `Connection: close` is left to hyper: the same request through the full stack.
    for extra in [
        String::new(),
        "Accept-Encoding: gzip\r\n".into(),
        "Accept-Encoding: br;q=1, gzip;q=0.5\r\n".into(),
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: \"other\", W/{etag}\r\n"),
        format!("If-Modified-Since: {modified}\r\n"),
        "If-None-Match: \"other\"\r\n".into(),
    ] {
        for path in ["/feeds/news.rss", "/feeds/all.atom", "/", "/feeds.opml"] {
            let mut short = Conn::open(&app).await;
            short.send(&get(path, &extra)).await;
            let a = short.reply(false).await;
            let mut full = Conn::open(&app).await;
            full.send(&get(path, &format!("{extra}Connection: close\r\n")))
                .await;
            let b = full.reply(false).await;
            let mut expected = b.comparable();
            expected.retain(|(n, _)| n != "connection");
            assert_eq!(a.status, b.status, "{path} {extra:?}");
            assert_eq!(a.comparable(), expected, "{path} {extra:?}");
            assert_eq!(a.body, b.body, "{path} {extra:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_then_other_requests_go_to_the_full_stack() {
    let app = app_with_articles().await;
    let mut c = Conn::open(&app).await;
    c.send(&get("/feeds/news.json", "")).await;
    let json = c.reply(false).await;
    let etag = json.header("etag").unwrap().to_owned();
    // Four requests in one write: two for the short path, then one it hands over, then a
    // feed again (now answered by hyper on the same connection).
    c.send(&format!(
        "{}{}{}{}",
        get("/feeds/news.json", &format!("If-None-Match: {etag}\r\n")),
        "HEAD /feeds/news.json HTTP/1.1\r\nHost: x\r\n\r\n",
        get("/healthz", ""),
        get("/feeds/news.json", ""),
    ))
    .await;
    let not_modified = c.reply(false).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.header("content-length").is_none());
    let head = c.reply(true).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length").unwrap(),
        json.body.len().to_string()
    );
    let health = c.reply(false).await;
    assert_eq!((health.status, health.body.as_slice()), (200, &b"ok\n"[..]));
    let again = c.reply(false).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, json.body);
    let v: serde_json::Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_a_body_other_methods_and_http_1_0_are_left_to_the_full_stack() {
    let app = app_with_articles().await;

    // A body on a feed path: the body is consumed as a body, not read as the next request.
    let mut c = Conn::open(&app).await;
    c.send(&format!(
        "GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{}{}",
        "GET /api/v1/sections HTTP/1.1\r\nHost: x\r\n",
        get("/healthz", "")
    ))
    .await;
    assert_eq!(c.reply(false).await.status, 200);
    let health = c.reply(false).await;
    assert_eq!(health.body, b"ok\n", "the body was taken for a request");

    // Another method on a feed path.
    let mut c = Conn::open(&app).await;
    c.send("POST /feeds/news.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await;
    let r = c.reply(false).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    // HTTP/1.0: answered by hyper, which then closes the connection.
    let mut c = Conn::open(&app).await;
    c.send("GET /feeds/news.rss HTTP/1.0\r\n\r\n").await;
    let r = c.reply(false).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"<?xml"));
    assert!(c.closed_within(Duration::from_secs(5)).await);

    // Garbage: hyper's 400, not a hang.
    let mut c = Conn::open(&app).await;
    c.send("GARBAGE\r\n\r\n").await;
    assert_eq!(c.reply(false).await.status, 400);

    // An unknown feed: the full stack's 404.
    let mut c = Conn::open(&app).await;
    c.send(&get("/feeds/nope.rss", "")).await;
    assert_eq!(c.reply(false).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_requests_are_cut_off_after_the_header_timeout() {
    let app = app_with_articles().await;
    let started = Instant::now();
    let mut idle = Conn::open(&app).await;
    let mut half = Conn::open(&app).await;
    half.send("GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\n")
        .await;
    let limit = tidings::server::HEADER_READ_TIMEOUT + Duration::from_secs(3);
    let (a, b) = tokio::join!(idle.closed_within(limit), half.closed_within(limit));
    assert!(a && b, "idle closed: {a}, half-sent closed: {b}");
    assert!(started.elapsed() >= tidings::server::HEADER_READ_TIMEOUT - Duration::from_secs(1));
}

/// Drives `feeds::fast::serve` directly on one socket: it answers feed requests itself, and
/// returns the connection for hyper at the first other request, with that request's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_short_path_itself_answers_feeds_and_returns_other_requests_unread() {
    use tidings::feeds::fast::{Next, serve};
    let app = app_with_articles().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let state = app.state.clone();
    let short = tokio::spawn(async move {
        let stop = tokio_util::sync::CancellationToken::new();
        serve(server, &state, &stop, Duration::from_secs(5)).await
    });
    let other = "POST /api/v1/articles/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    client
        .write_all(format!("{}{other}", get("/feeds/news.rss", "")).as_bytes())
        .await
        .unwrap();
    let mut c = Conn {
        stream: client,
        buf: Vec::new(),
    };
    let feed = c.reply(false).await;
    assert_eq!(feed.status, 200);
    assert!(String::from_utf8_lossy(&feed.body).contains("快速通道测试2"));
    let Next::HandOff(mut rest) = short.await.unwrap() else {
        panic!("the short path closed a connection it should have handed over");
    };
    let mut handed = vec![0u8; other.len()];
    rest.read_exact(&mut handed).await.unwrap();
    assert_eq!(
        handed,
        other.as_bytes(),
        "the hand-over lost or changed bytes"
    );
}
