//! Source health: layout changes, server errors and timeouts show in `GET /api/v1/sources`, in
//! the metrics and the log; polite fetching; the background loop runs on the clock.

use crate::common;

use common::sources::{app_with, fetcher, source};

use std::time::{Duration, Instant};

use common::site::{
    Site,
    fixtures::{list_page, serve_utf8_site, web_source},
};
use serde_json::Value;
use tidings::{articles::sources::poll_once, config::SourceConfig};

on_both!(
    a_list_page_whose_layout_changed_shows_as_an_error_with_zero_items,
    server_errors_and_timeouts_are_reported_and_change_nothing,
    a_failed_article_page_is_retried_on_the_next_poll,
    one_host_is_asked_one_request_at_a_time,
    the_background_loop_polls_when_the_clock_reaches_the_interval,
);

async fn health(app: &common::TestApp, name: &str) -> Value {
    let resp = app
        .client
        .get(app.url("/api/v1/sources"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .expect("source listed")
}

async fn source_errors_metric(app: &common::TestApp) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("tidings_source_errors_total "))
        .unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn a_list_page_whose_layout_changed_shows_as_an_error_with_zero_items(
    backend: common::Backend,
) {
    let site = Site::start().await;
    let listed = serve_utf8_site(&site);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/news/index.html"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "site"));
    poll_once(&app.state, &fetcher, &src).await;
    let ok = health(&app, "site").await;
    assert_eq!(
        (ok["status"].as_str(), ok["items_found"].as_i64()),
        (Some("ok"), Some(2))
    );
    // The CMS is upgraded: the list is now a <div class="news-list">.
    let html = list_page(&[], "").replace(
        "</body>",
        &format!(
            "<div class=\"news-list\"><a href=\"{}\">新版</a></div></body>",
            listed[0].0
        ),
    );
    site.html("/news/index.html", &html);

    let report = poll_once(&app.state, &fetcher, &src).await;

    assert_eq!(report.items_found, 0);
    let h = health(&app, "site").await;
    assert_eq!(h["status"], "error");
    assert_eq!(h["items_found"], 0);
    assert_eq!(h["kind"], "web");
    assert_eq!(h["section"], "news");
    let err = h["last_error"].as_str().unwrap();
    assert!(
        err.contains("item_selector \"ul.list li a\" matched no article links"),
        "{err}"
    );
    assert!(h["last_success_at"].is_string());
    assert_eq!(source_errors_metric(&app).await, 1);
    assert_eq!(
        app.state.store.count_articles().await.unwrap(),
        2,
        "nothing retracted"
    );
}

async fn server_errors_and_timeouts_are_reported_and_change_nothing(backend: common::Backend) {
    let site = Site::start().await;
    serve_utf8_site(&site);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/news/index.html"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_millis(500)), source(&app, "site"));

    site.fail("/news/index.html", 500);
    poll_once(&app.state, &fetcher, &src).await;
    let failed = health(&app, "site").await;
    site.fail("/news/index.html", 200);
    site.slow("/news/index.html", Duration::from_secs(3));
    let started = Instant::now();
    poll_once(&app.state, &fetcher, &src).await;
    let waited = started.elapsed();
    let timed_out = health(&app, "site").await;

    assert_eq!(failed["status"], "error");
    let err = failed["last_error"].as_str().unwrap();
    assert!(
        err.contains("500") && err.contains("/news/index.html"),
        "{err}"
    );
    let err = timed_out["last_error"].as_str().unwrap();
    assert!(err.contains("timed out"), "{err}");
    assert!(waited < Duration::from_secs(2), "gave up after {waited:?}");
    assert_eq!(timed_out["consecutive_errors"], 2);
    assert_eq!(source_errors_metric(&app).await, 2);
    assert_eq!(app.state.store.count_articles().await.unwrap(), 0);
}

async fn a_failed_article_page_is_retried_on_the_next_poll(backend: common::Backend) {
    let site = Site::start().await;
    let listed = serve_utf8_site(&site);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/news/index.html"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "site"));
    site.fail(&listed[0].0, 503);

    let first = poll_once(&app.state, &fetcher, &src).await;
    site.fail(&listed[0].0, 200);
    let second = poll_once(&app.state, &fetcher, &src).await;

    assert_eq!(
        (first.created, first.failed.len()),
        (1, 1),
        "{:?}",
        first.failed
    );
    assert!(first.failed[0].contains("503"), "{:?}", first.failed);
    assert!(
        !second.not_modified,
        "the list page validators were not kept after a failure"
    );
    assert_eq!(
        (second.created, second.failed.len()),
        (1, 0),
        "{:?}",
        second.failed
    );
    assert_eq!(health(&app, "site").await["status"], "ok");
}

async fn one_host_is_asked_one_request_at_a_time(backend: common::Backend) {
    let site = Site::start().await;
    let listed = serve_utf8_site(&site);
    for (path, _) in &listed {
        site.slow(path, Duration::from_millis(150));
    }
    let mut second = web_source("mirror", "notices", &site.url("/news/index.html"));
    if let SourceConfig::Web { list_url, .. } = &mut second {
        list_url.push_str("?mirror");
    }
    let app = app_with(
        backend,
        vec![
            web_source("site", "news", &site.url("/news/index.html")),
            second,
        ],
    )
    .await;
    let fetcher = fetcher(Duration::from_secs(5));
    let (a, b) = (source(&app, "site"), source(&app, "mirror"));

    let (ra, rb) = tokio::join!(
        poll_once(&app.state, &fetcher, &a),
        poll_once(&app.state, &fetcher, &b)
    );

    assert_eq!(
        (ra.created, rb.created),
        (2, 2),
        "{:?} {:?}",
        ra.failed,
        rb.failed
    );
    assert_eq!(site.max_in_flight(), 1);
}

async fn the_background_loop_polls_when_the_clock_reaches_the_interval(backend: common::Backend) {
    let site = Site::start().await;
    serve_utf8_site(&site);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/news/index.html"))],
    )
    .await;
    // The loop has set its first poll a few seconds ahead on the clock (1 s plus up to 10 s of
    // jitter) and waits for it; only then is "it has not asked yet" worth checking.
    let start = app.clock.now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app
        .clock
        .waiting()
        .iter()
        .any(|t| *t > start && *t <= start + chrono::Duration::seconds(11))
    {
        assert!(
            Instant::now() < deadline,
            "the loop never waited for its first poll: {:?}",
            app.clock.waiting()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(site.hit_count(), 0, "no poll before the clock moves");

    app.clock.advance(chrono::Duration::seconds(15));
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.store.count_articles().await.unwrap() < 2 {
        assert!(Instant::now() < deadline, "the loop did not poll");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_first = site.hits("/news/index.html").len();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The loop sets its next instant when its poll ends; moving the clock one interval at a
    // time does not depend on exactly when that was.
    while site.hits("/news/index.html").len() == after_first {
        assert!(
            Instant::now() < deadline,
            "the loop did not poll again after the interval"
        );
        app.clock.advance(chrono::Duration::minutes(11));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(site.hits("/news/index.html").last().unwrap().status, 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sources_api_answers_only_the_admin() {
    let app = app_with(
        common::Backend::Sqlite,
        vec![web_source("site", "news", "http://127.0.0.1:9/")],
    )
    .await;

    let anonymous = app
        .client
        .get(app.url("/api/v1/sources"))
        .send()
        .await
        .unwrap();
    let publisher = app
        .client
        .get(app.url("/api/v1/sources"))
        .bearer_auth(common::PUBLISHER_TOKEN)
        .send()
        .await
        .unwrap();
    let pending = health(&app, "site").await;

    assert_eq!(anonymous.status(), 401);
    assert_eq!(publisher.status(), 403, "a valid token without the role");
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["target"], "http://127.0.0.1:9/");
    assert!(pending["last_success_at"].is_null());
}
