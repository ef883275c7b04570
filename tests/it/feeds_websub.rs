//! WebSub: the hub is advertised in every feed and in `Link` headers, and pinged with
//! `hub.mode=publish` for each changed feed, again after a failure.

use crate::common;

use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use axum::{Form, Router, extract::State, http::StatusCode, routing::post};
use common::feeds::{eventually, get};

/// A hub stand-in: records every ping, failing the first `failures` with 503.
#[derive(Clone, Default)]
struct Hub {
    pings: Arc<Mutex<Vec<(String, String, bool)>>>,
    failures: Arc<AtomicUsize>,
}

impl Hub {
    async fn start(failures: usize) -> (Self, String) {
        let hub = Hub::default();
        hub.failures.store(failures, SeqCst);
        let app = Router::new()
            .route("/hub", post(record))
            .with_state(hub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hub", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (hub, url)
    }

    /// Topics pinged with `hub.mode=publish` and accepted (or not).
    fn topics(&self, accepted: bool) -> BTreeSet<String> {
        self.pings
            .lock()
            .unwrap()
            .iter()
            .filter(|(mode, _, ok)| mode == "publish" && *ok == accepted)
            .map(|(_, topic, _)| topic.clone())
            .collect()
    }
}

async fn record(State(hub): State<Hub>, Form(form): Form<Vec<(String, String)>>) -> StatusCode {
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let fail = hub
        .failures
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok();
    hub.pings
        .lock()
        .unwrap()
        .push((get("hub.mode"), get("hub.url"), !fail));
    if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    }
}

fn news_and_all_topics() -> BTreeSet<String> {
    ["news", "all"]
        .iter()
        .flat_map(|s| {
            ["rss", "atom", "json"].map(|e| format!("http://feeds.example.test/feeds/{s}.{e}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_is_advertised_in_every_format_and_in_link_headers() {
    let (_hub, url) = Hub::start(0).await;
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.feeds.websub_hub = Some(url.clone())
    })
    .await
    .unwrap();

    let rss = get(&app, "/feeds/news.rss", &[]).await;
    let link = rss.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        format!("<{url}>; rel=\"hub\", <http://feeds.example.test/feeds/news.rss>; rel=\"self\"")
    );
    assert!(
        rss.text()
            .await
            .unwrap()
            .contains(&format!("<atom:link href=\"{url}\" rel=\"hub\"/>"))
    );
    let atom = get(&app, "/feeds/news.atom", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(atom.contains(&format!("<link href=\"{url}\" rel=\"hub\"/>")));
    let json: serde_json::Value = get(&app, "/feeds/news.json", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        json["hubs"],
        serde_json::json!([{"type": "WebSub", "url": url}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_changed_feed_is_pinged_and_unchanged_feeds_are_not() {
    let (hub, url) = Hub::start(0).await;
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| c.feeds.websub_hub = Some(url))
        .await
        .unwrap();

    app.put_article("a", &common::article("news", "通知枢纽"))
        .await;

    let want = news_and_all_topics();
    assert!(
        eventually(Duration::from_secs(5), || async {
            hub.topics(true) == want
        })
        .await,
        "pinged {:?}",
        hub.topics(true)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hub.pings.lock().unwrap().len(),
        6,
        "one ping per changed feed, none for notices, grassroots or about"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ping_is_retried_after_a_backoff() {
    let (hub, url) = Hub::start(6).await;
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| c.feeds.websub_hub = Some(url))
        .await
        .unwrap();

    app.put_article("a", &common::article("news", "枢纽暂时不可用"))
        .await;
    let want = news_and_all_topics();
    assert!(
        eventually(Duration::from_secs(5), || async {
            hub.topics(false) == want
        })
        .await,
        "first attempts"
    );
    assert!(hub.topics(true).is_empty());

    // The retry waits on the injected clock: move it until the hub has everything.
    let retried = eventually(Duration::from_secs(10), || async {
        app.clock.advance(chrono::Duration::milliseconds(500));
        tokio::time::sleep(Duration::from_millis(20)).await;
        hub.topics(true) == want
    })
    .await;
    assert!(retried, "accepted after retry: {:?}", hub.topics(true));
    assert_eq!(
        hub.pings.lock().unwrap().len(),
        12,
        "each topic failed once, then succeeded once"
    );
}
