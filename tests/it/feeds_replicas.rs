//! Two replicas on one PostgreSQL database: a change made through one shows in the other's
//! feeds within a second, with identical ETags, and a replica whose listener lost its
//! connection catches up by itself.

use crate::common;

use std::time::{Duration, Instant};

use common::feeds::{eventually, feed_contains, get};
use reqwest::header;
use tidings::{App, AppState, clock::Clock};

/// A second app on the database of `first`; returns its base URL and state.
async fn second_replica(first: &common::TestApp) -> (String, AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_config(dir.path(), &first.database_url);
    let app = App::build_with_clock(config, Clock::manual(common::test_start()))
        .await
        .expect("build the second replica");
    let base = format!("http://{}", app.local_addr());
    let state = app.state();
    tokio::spawn(app.run());
    (base, state, dir)
}

async fn fetch(base: &str, path: &str) -> reqwest::Response {
    common::feeds::raw_client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
}

async fn pg_app() -> Option<common::TestApp> {
    common::try_spawn_app(common::Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_on_one_replica_shows_in_the_other_within_a_second_with_the_same_etag() {
    let Some(a) = pg_app().await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL test not run");
        return;
    };
    let (b_base, b_state, _dir) = second_replica(&a).await;

    let started = Instant::now();
    assert!(
        a.put_article("shared", &common::article("news", "两个副本"))
            .await
            .status()
            .is_success()
    );
    let seen = eventually(Duration::from_secs(1), || async {
        fetch(&b_base, "/feeds/news.rss")
            .await
            .text()
            .await
            .unwrap()
            .contains("两个副本")
    })
    .await;
    assert!(seen, "replica B did not show the change within 1 s");
    eprintln!("replica B showed the change after {:?}", started.elapsed());

    // Both replicas converge on byte-identical feeds, hence identical validators.
    assert!(
        eventually(Duration::from_secs(1), || feed_contains(
            &a,
            "/feeds/news.rss",
            "两个副本"
        ))
        .await
    );
    for path in [
        "/feeds/news.rss",
        "/feeds/news.atom",
        "/feeds/all.json",
        "/feeds.opml",
        "/",
    ] {
        let ha = get(&a, path, &[]).await;
        let hb = fetch(&b_base, path).await;
        assert_eq!(
            ha.headers()[header::ETAG],
            hb.headers()[header::ETAG],
            "{path}"
        );
        assert_eq!(
            ha.headers()[header::LAST_MODIFIED],
            hb.headers()[header::LAST_MODIFIED],
            "{path}"
        );
    }
    b_state.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_listener_reconnects_rebuilds_everything() {
    let Some(a) = pg_app().await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL test not run");
        return;
    };
    let (b_base, b_state, _dir) = second_replica(&a).await;
    // First an announced change, so B's listener and refresher are surely running (on a busy
    // machine they may start late, and their catch-up rebuild would show the silent write).
    let mut warm = common::article("news", "预热文章");
    warm["url"] = "https://www.example.org/news/warm.html".into();
    a.put_article("warm", &warm).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fetch(&b_base, "/feeds/news.rss")
        .await
        .text()
        .await
        .unwrap()
        .contains("预热文章")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "B never saw the announced change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A change nobody announces: only a full rebuild can bring it to B.
    let article = tidings::articles::ArticleInput {
        section: Some("news".into()),
        title: Some("悄悄写入".into()),
        url: Some("https://www.example.org/news/silent.html".into()),
        content_html: Some("<p>无人通知</p>".into()),
        published_at: Some("2025-03-01T09:00:00+08:00".into()),
        ..Default::default()
    }
    .into_new_article("silent", "test", |_| true)
    .unwrap();
    a.state
        .store
        .put_article(&article, a.clock.now())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !fetch(&b_base, "/feeds/news.rss")
            .await
            .text()
            .await
            .unwrap()
            .contains("悄悄写入")
    );

    // Cut B's listener connection, as a network failure or a server restart would.
    let pool = a.state.store.pg_pool().unwrap();
    let killed: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(killed.len(), 2, "one listener per replica");
    for pid in killed {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(pool)
            .await
            .unwrap();
    }

    let caught_up = eventually(Duration::from_secs(10), || async {
        fetch(&b_base, "/feeds/news.rss")
            .await
            .text()
            .await
            .unwrap()
            .contains("悄悄写入")
    })
    .await;
    assert!(caught_up, "B never rebuilt after its listener reconnected");
    // And notifications flow again afterwards.
    a.put_article("after", &common::article("news", "重连之后"))
        .await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            fetch(&b_base, "/feeds/news.rss")
                .await
                .text()
                .await
                .unwrap()
                .contains("重连之后")
        })
        .await
    );
    b_state.shutdown.cancel();
}
