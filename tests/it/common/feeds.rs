//! Helpers for the feed tests: hostile articles, fetching, waiting for the cache, feedparser.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tidings::articles::{Image, NewArticle};

use super::TestApp;

/// Characters that have broken feeds elsewhere: CJK, emoji (with modifiers and ZWJ), the CDATA
/// terminator, XML specials, entity-like text, a right-to-left mark.
pub const HOSTILE_TEXT: &str = "工会要闻 ✊🏽👩‍👩‍👧 ]]> a<b & c>d \"q\" 'a' 1&2 &amp; &#12; \u{200F}";

/// Articles sent through the publisher API, each with something unusual.
pub fn hostile_api_articles() -> Vec<(String, Value)> {
    vec![
        (
            "hostile/specials".into(),
            json!({
                "section": "news",
                "title": HOSTILE_TEXT,
                "url": "https://www.example.org/news/特殊 字符.html?a=1&b=<2>",
                "content_html": format!("<p>{}</p><p>]]&gt; and <b>bold</b> &amp; ]]></p>", html_escape::encode_text(HOSTILE_TEXT)),
                "summary": HOSTILE_TEXT,
                "author": "张 & <李>",
                "tags": ["a<b", "R&D", "工会", "😀"],
                "image": {"url": "https://img.example.org/图片/照片 1.JPG", "caption": "说明 <a> & \"b\" ]]>"},
                "published_at": "2025-03-01T09:00:00+08:00",
                "updated_at": "2025-03-02T09:00:00+08:00",
            }),
        ),
        (
            "hostile/empty-summary".into(),
            json!({
                "section": "news",
                "title": "只有图片",
                "url": "https://www.example.org/news/only-image.html",
                "content_html": "<p><img src=\"https://img.example.org/a.png\" alt=\"\"></p>",
                "published_at": "2025-03-01T09:00:00+08:00",
            }),
        ),
        (
            "hostile/no-image".into(),
            json!({
                "section": "notices",
                "title": "Notice without image, author or tags",
                "url": "https://www.example.org/notices/plain.html",
                "content_markdown": "A *plain* notice.\n\nSecond paragraph with a [relative link](../other.html).",
                "published_at": "2025-03-01T09:00:00+08:00",
            }),
        ),
    ]
}

/// Articles stored directly, as a careless source might: far too long a title, control
/// characters, non-characters, a raw CDATA terminator in the HTML, an `updated_at` in the
/// future; none of which the API would accept.
pub fn hostile_raw_articles(now: DateTime<Utc>) -> Vec<NewArticle> {
    let long_title: String = "长标题".chars().cycle().take(2000).collect();
    let base = NewArticle {
        id: String::new(),
        section: "grassroots".into(),
        title: String::new(),
        url: "https://www.example.org/grassroots/raw.html".into(),
        content_html: String::new(),
        summary: String::new(),
        author: None,
        image: None,
        tags: vec![],
        published_at: "2025-03-01T01:00:00Z".parse().unwrap(),
        updated_at: None,
        source: "test".into(),
    };
    vec![
        NewArticle {
            id: "raw/long-title".into(),
            title: long_title,
            content_html: "<p>正文</p>".into(),
            summary: "摘要".into(),
            ..base.clone()
        },
        NewArticle {
            id: "raw/control chars".into(),
            title: "控制\u{1}字符\u{8}\u{FFFE}\u{FFFD}标题".into(),
            content_html: "<p>a]]>b\u{0}c\u{1B}d</p><p>\u{FFFF}</p>".into(),
            summary: "摘\u{7}要".into(),
            author: Some("\u{2}".into()),
            tags: vec!["\u{3}".into(), "ok".into()],
            image: Some(Image {
                url: "https://img.example.org/x.webp".into(),
                caption: Some("\u{4}".into()),
            }),
            updated_at: Some(now + chrono::Duration::days(365)),
            ..base.clone()
        },
        NewArticle {
            id: "raw/empty".into(),
            title: "\u{5}".into(),
            content_html: String::new(),
            summary: String::new(),
            ..base
        },
    ]
}

/// Stores every hostile and fixture article; returns how many each feed should hold.
pub async fn store_fixtures_and_hostile_articles(app: &TestApp) -> Vec<(&'static str, usize)> {
    let fixture = super::fixture_article();
    assert!(
        app.put_article("news/qinghai-green-compute", &fixture)
            .await
            .status()
            .is_success()
    );
    let about = json!({
        "section": "about",
        "title": "青海省总工会简介",
        "url": "https://www.example.org/about/intro.html",
        "content_markdown": std::fs::read_to_string(super::fixture_dir().join("about/federation-intro.md")).unwrap().split("+++").nth(2).unwrap(),
        "published_at": "2024-12-01T10:00:00+08:00",
    });
    assert!(
        app.put_article("about/federation-intro", &about)
            .await
            .status()
            .is_success()
    );
    for (id, body) in hostile_api_articles() {
        let resp = app.put_article(&id, &body).await;
        assert!(
            resp.status().is_success(),
            "{id}: {}",
            resp.text().await.unwrap()
        );
    }
    for mut a in hostile_raw_articles(app.clock.now()) {
        if app.backend == super::Backend::Postgres {
            // PostgreSQL text cannot hold NUL at all, so no article there can carry one.
            a.content_html = a.content_html.replace('\0', "");
        }
        app.state
            .store
            .put_article(&a, app.clock.now())
            .await
            .unwrap();
    }
    app.state.events.publish(tidings::events::Change::All);
    vec![
        ("all", 8),
        ("news", 3),
        ("notices", 1),
        ("grassroots", 3),
        ("about", 1),
    ]
}

/// A client that sends no `Accept-Encoding` of its own and decodes nothing, so that tests
/// see exactly what the server sent (the crate's reqwest has gzip and br enabled).
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .unwrap()
}

/// GET `path` with extra headers, through [`raw_client`].
pub async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = raw_client().get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("GET")
}

/// Polls `check` every few milliseconds until it holds or `limit` passes; returns whether it
/// held. For effects of background work (a cache rebuild), never for clock-driven schedules.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether the feed at `path` mentions `needle`.
pub async fn feed_contains(app: &TestApp, path: &str, needle: &str) -> bool {
    get(app, path, &[])
        .await
        .text()
        .await
        .unwrap()
        .contains(needle)
}

/// What Python's feedparser makes of `doc`: `bozo`, the exception text, version, entry ids
/// and titles.
pub fn feedparser(doc: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed");
    std::fs::write(&path, doc).unwrap();
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({
    "bozo": int(d.bozo),
    "exception": str(d.get("bozo_exception", "")),
    "version": d.version,
    "title": d.feed.get("title"),
    "ids": [e.get("id") for e in d.entries],
    "titles": [e.get("title") for e in d.entries],
}))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 must be installed (with feedparser: pip install feedparser)");
    assert!(
        out.status.success(),
        "feedparser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
