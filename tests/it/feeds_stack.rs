//! Feed documents go through the same HTTP stack as every other route (SPEC §4), checked over
//! raw sockets: exact headers and bytes, keep-alive and pipelining, requests meant to desync a
//! connection, the header timeout, and the request metrics of the shared layers.

use crate::common;

use std::{
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use common::raw_http::{Conn, get};
use tidings::feeds::Encoding;
use tokio::io::AsyncWriteExt;

async fn app_with_articles() -> common::TestApp {
    let app = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    for i in 0..3 {
        let r = app
            .put_article(
                &format!("a{i}"),
                &common::article("news", &format!("同一条路测试{i}")),
            )
            .await;
        assert!(r.status().is_success());
    }
    // Every document the tests compare must have caught up, compressed forms included, or
    // two fetches could see two versions of it.
    for path in [
        "/feeds/news.rss",
        "/feeds/news.json",
        "/feeds/all.atom",
        "/",
    ] {
        assert!(
            common::feeds::eventually(Duration::from_secs(5), || async {
                app.state.feeds.get(path).is_some_and(|doc| {
                    doc.available(Encoding::Br) == Encoding::Br
                        // The index page lists sections; it changes with them only.
                        && (path == "/"
                            || String::from_utf8_lossy(doc.body(Encoding::Identity))
                                .contains("同一条路测试2"))
                })
            })
            .await,
            "{path} never showed the last article"
        );
    }
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_answers_are_the_cached_bytes_with_the_same_headers_on_any_connection() {
    let app = app_with_articles().await;
    let mut c = Conn::open(app.addr).await;
    c.send(&get("/feeds/news.rss", "")).await;
    let plain = c.reply(false).await;
    assert_eq!(plain.status, 200);
    assert!(plain.header("date").is_some(), "{plain:?}");
    let etag = plain.header("etag").unwrap().to_owned();
    let modified = plain.header("last-modified").unwrap().to_owned();

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
            let mut kept = Conn::open(app.addr).await;
            kept.send(&get(path, &extra)).await;
            let a = kept.reply(false).await;
            let mut closing = Conn::open(app.addr).await;
            closing
                .send(&get(path, &format!("{extra}Connection: close\r\n")))
                .await;
            let b = closing.reply(false).await;
            let mut expected = b.comparable();
            expected.retain(|(n, _)| n != "connection");
            assert_eq!(a.status, b.status, "{path} {extra:?}");
            assert_eq!(a.comparable(), expected, "{path} {extra:?}");
            assert_eq!(a.body, b.body, "{path} {extra:?}");

            let doc = app.state.feeds.get(path).unwrap();
            for h in ["etag", "last-modified", "cache-control", "vary", "date"] {
                assert!(a.header(h).is_some(), "{path} {extra:?}: no {h}");
            }
            let vary = if path == "/" {
                "Accept-Encoding, Accept-Language"
            } else {
                "Accept-Encoding"
            };
            assert_eq!(a.header("vary"), Some(vary), "{path}");
            assert_eq!(
                a.header("x-frame-options").is_some(),
                path == "/",
                "{path}: the page headers go with the page only"
            );
            if a.status == 304 {
                assert!(a.header("content-length").is_none(), "{path} {extra:?}");
                assert!(a.header("content-type").is_none(), "{path} {extra:?}");
                continue;
            }
            assert_eq!(a.status, 200, "{path} {extra:?}");
            let encoding = match a.header("content-encoding") {
                None => Encoding::Identity,
                Some("gzip") => Encoding::Gzip,
                Some("br") => Encoding::Br,
                Some(other) => panic!("{path}: content-encoding {other}"),
            };
            assert_eq!(&a.body[..], &doc.body(encoding)[..], "{path} {extra:?}");
            assert_eq!(a.header("etag"), doc.etag(encoding).to_str().ok());
            assert_eq!(
                a.header("content-type"),
                doc.content_type.to_str().ok(),
                "{path}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let app = app_with_articles().await;
    let mut c = Conn::open(app.addr).await;
    c.send(&get("/feeds/news.json", "")).await;
    let json = c.reply(false).await;
    let etag = json.header("etag").unwrap().to_owned();
    // Four requests in one write: a 304, a HEAD, another route and the feed again.
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
async fn bodies_other_methods_old_versions_and_desync_attempts_get_sane_answers() {
    let app = app_with_articles().await;

    // A body on a feed path: the body is consumed as a body, not read as the next request.
    let mut c = Conn::open(app.addr).await;
    c.send(&format!(
        "GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{}{}",
        "GET /api/v1/sections HTTP/1.1\r\nHost: x\r\n",
        get("/healthz", "")
    ))
    .await;
    assert_eq!(c.reply(false).await.status, 200);
    let health = c.reply(false).await;
    assert_eq!(health.body, b"ok\n", "the body was taken for a request");

    // Content-Length and Transfer-Encoding together: the chunked body counts, and the
    // connection closes after the answer, so what follows is never taken for a request.
    let mut c = Conn::open(app.addr).await;
    c.send(&format!(
        "GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{}",
        get("/healthz", "")
    ))
    .await;
    let r = c.reply(false).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"<?xml"));
    assert!(c.closed_within(Duration::from_secs(5)).await);
    assert!(c.buf.is_empty(), "a smuggled request was answered");

    // Lengths that disagree, a coding that hides the length, chunks on HTTP/1.0: refused.
    for bad in [
        "GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "GET /feeds/news.rss HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GARBAGE\r\n\r\n",
    ] {
        let mut c = Conn::open(app.addr).await;
        c.send(bad).await;
        assert_eq!(c.reply(false).await.status, 400, "{bad:?}");
        assert!(c.closed_within(Duration::from_secs(5)).await, "{bad:?}");
    }

    // Another method on a feed path.
    let mut c = Conn::open(app.addr).await;
    c.send("POST /feeds/news.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await;
    let r = c.reply(false).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    // HTTP/1.0: answered, then the connection closes.
    let mut c = Conn::open(app.addr).await;
    c.send("GET /feeds/news.rss HTTP/1.0\r\n\r\n").await;
    let r = c.reply(false).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"<?xml"));
    assert!(c.closed_within(Duration::from_secs(5)).await);

    // An unknown feed: the JSON 404 of every route.
    let mut c = Conn::open(app.addr).await;
    c.send(&get("/feeds/nope.rss", "")).await;
    let r = c.reply(false).await;
    assert_eq!(r.status, 404);
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(body["error"].is_string(), "{body}");
}

/// Silent, half-sent and slowly sent heads are all cut off within the header timeout of the
/// connection's start, however large the head grows meanwhile: no stage of reading it starts
/// a fresh timeout (as crossing 8 KB once did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_sent_and_slowly_growing_heads_are_cut_off_within_the_header_timeout() {
    let app = app_with_articles().await;
    let limit = tidings::server::HEADER_READ_TIMEOUT + Duration::from_secs(3);
    let started = Instant::now();
    let mut idle = Conn::open(app.addr).await;
    let mut half = Conn::open(app.addr).await;
    half.send("GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\n")
        .await;
    let mut growing = Conn::open(app.addr).await;
    let slow = async {
        growing
            .send("GET /feeds/news.rss HTTP/1.1\r\nHost: x\r\n")
            .await;
        // 6 KB at once, then another 500 bytes every half second: past 8 KB after about 4 s.
        let pad = "a".repeat(1000);
        for i in 0..6 {
            growing.send(&format!("X-Pad-{i}: {pad}\r\n")).await;
        }
        let pad = "b".repeat(500);
        let mut i = 0;
        loop {
            // The pace of this client; the wait ends early when the server hangs up.
            if growing.closed_within(Duration::from_millis(500)).await {
                return Some(started.elapsed());
            }
            if started.elapsed() > limit {
                return None;
            }
            let line = format!("X-Slow-{i}: {pad}\r\n");
            if growing.stream.write_all(line.as_bytes()).await.is_err() {
                return Some(started.elapsed());
            }
            i += 1;
        }
    };
    let (a, b, grown) = tokio::join!(idle.closed_within(limit), half.closed_within(limit), slow);
    assert!(a && b, "idle closed: {a}, half-sent closed: {b}");
    let grown = grown.expect("the slowly growing head was never cut off");
    assert!(
        grown <= tidings::server::HEADER_READ_TIMEOUT + Duration::from_secs(2),
        "cut off after {grown:?}"
    );
    assert!(started.elapsed() >= tidings::server::HEADER_READ_TIMEOUT - Duration::from_secs(1));
}

/// Feed answers pass through the request-metrics layer like any other: each is counted once
/// by status class, and shows in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_answers_are_counted_once_in_the_request_metrics() {
    let app = app_with_articles().await;
    let counts = || {
        let m = &app.state.metrics.http_requests;
        [m[1].load(Relaxed), m[2].load(Relaxed), m[3].load(Relaxed)]
    };
    let before = counts();
    let mut c = Conn::open(app.addr).await;
    c.send(&get("/feeds/news.rss", "")).await;
    let etag = {
        let r = c.reply(false).await;
        r.header("etag").unwrap().to_owned()
    };
    assert_eq!(counts(), [before[0] + 1, before[1], before[2]], "200");
    c.send(&get(
        "/feeds/news.rss",
        &format!("If-None-Match: {etag}\r\n"),
    ))
    .await;
    assert_eq!(c.reply(false).await.status, 304);
    c.send(&get("/feeds/nope.atom", "")).await;
    assert_eq!(c.reply(false).await.status, 404);
    c.send("DELETE /feeds/news.rss HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(c.reply(false).await.status, 405);
    assert_eq!(
        counts(),
        [before[0] + 1, before[1] + 1, before[2] + 2],
        "one 304, one 404 and one 405"
    );

    c.send(&get("/metrics", "")).await;
    let text = String::from_utf8(c.reply(false).await.body).unwrap();
    let line = format!(
        "tidings_http_requests_total{{class=\"2xx\"}} {}",
        before[0] + 1
    );
    assert!(text.contains(&line), "{line} not in\n{text}");
}
