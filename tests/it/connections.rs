//! Connections: clients that close their side after a request, idle keep-alive connections,
//! clients that stop reading, and a SIGTERM while an answer is on its way. A place under
//! `server::MAX_CONNECTIONS` must never be held for long by a client that does nothing.

use crate::common;

use std::{
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use chrono::Utc;
use common::raw_http::{Conn, get};
use tidings::{
    articles::NewArticle,
    feeds::Encoding,
    server::{DRAIN_TIMEOUT, KEEP_ALIVE_IDLE_TIMEOUT, WRITE_TIMEOUT},
    store::Store,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Articles of about 1 MB each: together, a feed larger than what the kernel buffers between
/// a server and a client that reads nothing (a few MB on loopback).
const BIG_ARTICLES: usize = 8;

fn big_article(i: usize) -> NewArticle {
    NewArticle {
        id: format!("big/{i}"),
        section: "news".into(),
        title: format!("长文{i}"),
        url: format!("https://www.example.org/news/big-{i}.html"),
        content_html: "<p>全省各级工会组织深入学习贯彻会议精神，扎实开展职工技能提升工作。</p>"
            .repeat(10_000),
        summary: "长文".into(),
        author: None,
        image: None,
        tags: vec![],
        published_at: "2025-03-01T01:00:00Z".parse().unwrap(),
        updated_at: None,
        source: "test".into(),
    }
}

/// Stores the big articles straight into `store` (no HTTP: the tests count connections).
async fn store_big_articles(store: &Store) {
    for i in 0..BIG_ARTICLES {
        store
            .put_article(&big_article(i), Utc::now())
            .await
            .unwrap();
    }
}

/// Identity length of `/feeds/news.rss` once it holds every big article.
async fn big_feed_ready(app: &common::TestApp) -> usize {
    let mut len = 0;
    let ready = common::feeds::eventually(Duration::from_secs(30), || {
        let doc = app.state.feeds.get("/feeds/news.rss");
        len = doc.map_or(0, |d| d.body(Encoding::Identity).len());
        std::future::ready(len > BIG_ARTICLES * 1_000_000)
    })
    .await;
    assert!(ready, "the big feed never arrived ({len} bytes)");
    len
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_close_their_sending_side_after_the_request_still_get_the_answer() {
    let app = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    let ask = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        s.write_all(get(path, "").as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
            .await
            .expect("no end of answer within 10 s")
            .unwrap();
        String::from_utf8(answer).unwrap()
    };
    let health = futures_util::future::join_all((0..20).map(|_| ask("/healthz"))).await;
    for answer in &health {
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(answer.ends_with("\r\n\r\nok\n"), "{answer:?}");
    }
    let feeds = futures_util::future::join_all((0..5).map(|_| ask("/feeds/news.atom"))).await;
    for answer in &feeds {
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(answer.trim_end().ends_with("</feed>"), "{answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    let mut c = Conn::open(app.addr).await;
    for _ in 0..2 {
        c.send(&get("/feeds/news.rss", "")).await;
        assert_eq!(c.reply(false).await.status, 200);
    }
    let idle_from = Instant::now();
    assert!(
        c.closed_within(KEEP_ALIVE_IDLE_TIMEOUT + Duration::from_secs(5))
            .await,
        "still open after {:?}",
        idle_from.elapsed()
    );
    let idle = idle_from.elapsed();
    assert!(
        idle >= KEEP_ALIVE_IDLE_TIMEOUT - Duration::from_secs(1),
        "closed after {idle:?}"
    );
    assert!(c.buf.is_empty(), "{:?}", String::from_utf8_lossy(&c.buf));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_a_large_feed_is_disconnected_after_the_write_timeout() {
    let app = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    store_big_articles(&app.state.store).await;
    app.state.events.publish(tidings::events::Change::All);
    let len = big_feed_ready(&app).await;
    let open = || app.state.metrics.http_connections_open.load(Relaxed);
    assert_eq!(open(), 0);

    // A small receive buffer, and nothing read past the head.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut c = Conn::over(socket.connect(app.addr).await.unwrap());
    c.send(&get("/feeds/news.rss", "")).await;
    let head = c.head().await;
    let stalled_from = Instant::now();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(open(), 1);

    let closed = common::feeds::eventually(WRITE_TIMEOUT + Duration::from_secs(10), || {
        std::future::ready(open() == 0)
    })
    .await;
    let stalled = stalled_from.elapsed();
    assert!(closed, "the connection is still open after {stalled:?}");
    assert!(
        stalled >= WRITE_TIMEOUT - Duration::from_secs(1),
        "closed after {stalled:?}"
    );

    // What the kernel had buffered still arrives, then the end: the answer is cut short.
    let mut rest = c.buf.len();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), c.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => rest += n,
            Err(_) => panic!("no end of stream after the server closed"),
        }
    }
    assert!(rest < len, "received the whole body ({rest} bytes)");
}

/// `tidings serve` gets SIGTERM while a client is halfway through a large feed and another
/// connection sits idle: the feed still arrives whole, the idle connection is closed at once,
/// and the process exits without waiting out the drain timeout.
#[test]
fn sigterm_lets_a_large_feed_being_read_finish_and_the_drain_end_once_idle() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("t.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = common::test_config(dir.path(), &db_url);
        let store = Store::connect(&db_url).await.unwrap();
        store.migrate().await.unwrap();
        store
            .ensure_sections(&config.section_seeds(), 0)
            .await
            .unwrap();
        store_big_articles(&store).await;
        store.close().await;
    });
    let command = common::process::serve_command(&db_url, &dir.path().join("outbox"));
    let (mut child, base, _) = common::process::start(command);
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();

    let signalled = rt.block_on(async {
        let mut idle = Conn::open(addr).await;
        idle.send(&get("/healthz", "")).await;
        assert_eq!(idle.reply(false).await.status, 200);

        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut c = Conn::over(socket.connect(addr).await.unwrap());
        c.send(&get("/feeds/news.rss", "")).await;
        let head = c.head().await;
        assert_eq!(head.status, 200);
        let len: usize = head.header("content-length").unwrap().parse().unwrap();
        assert!(len > BIG_ARTICLES * 1_000_000, "{len} bytes");
        // The answer has started and cannot have been written whole yet.
        assert!(c.buf.len() < len / 2);

        let signalled = Instant::now();
        // SAFETY: kill(2) with a pid we started and a valid signal has no memory effects.
        assert_eq!(
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
            0
        );
        // Shutdown has begun once the listener is gone.
        let refused = common::feeds::eventually(Duration::from_secs(5), || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await;
        assert!(refused, "still accepting connections after SIGTERM");
        assert!(
            idle.closed_within(Duration::from_secs(2)).await,
            "the idle connection was kept"
        );

        while c.buf.len() < len {
            assert!(
                c.fill().await,
                "the answer was cut at {} of {len} bytes",
                c.buf.len()
            );
        }
        assert!(
            String::from_utf8_lossy(&c.buf)
                .trim_end()
                .ends_with("</rss>")
        );
        assert!(
            c.closed_within(Duration::from_secs(2)).await,
            "the connection stayed open after its answer during shutdown"
        );
        signalled
    });
    // Nothing is left to drain: the process must not wait out the drain timeout.
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < DRAIN_TIMEOUT,
            "still running {:?} after SIGTERM",
            signalled.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exited.success(), "{exited:?}");
}
