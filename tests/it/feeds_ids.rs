//! Item ids never follow `site.base_url` (SPEC §4): their authority and date are fixed once per
//! database, at its first start, and every later start and every replica reads them back.
//! Each test restarts the real app on the same database, as an operator moving from a staging
//! address to the real domain does.

use crate::common;

use std::time::Duration;

use chrono::Duration as Span;
use common::feeds::eventually;
use serde_json::Value;
use tidings::{App, AppState, clock::Clock, config::Config};

const WAIT: Duration = Duration::from_secs(10);
const STAGING: &str = "https://staging.example.net";
pub(crate) const REAL: &str = "https://www.qhgh.example.org";

/// A database that outlives the apps started on it.
pub(crate) struct Db {
    pub url: String,
    pub backend: common::Backend,
    pub dir: tempfile::TempDir,
    _pg: Option<common::PgDatabase>,
}

impl Db {
    /// A fresh database; `None` for PostgreSQL when no server is configured.
    pub async fn new(backend: common::Backend) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match backend {
            common::Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("tidings.db").display()),
                None,
            ),
            common::Backend::Postgres => {
                common::postgres_url()?;
                let (url, guard) = common::create_pg_database().await;
                (url, Some(guard))
            }
        };
        Some(Self {
            url,
            backend,
            dir,
            _pg: pg,
        })
    }
}

/// One `tidings serve` on a [`Db`], on a real port.
pub(crate) struct Running {
    base: String,
    state: AppState,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn start(db: &Db, clock: &Clock, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = common::test_config(db.dir.path(), &db.url);
        tweak(&mut config);
        let app = App::build_with_clock(config, clock.clone())
            .await
            .expect("build the app");
        let base = format!("http://{}", app.local_addr());
        let state = app.state();
        Self {
            base,
            state,
            task: tokio::spawn(app.run()),
        }
    }

    pub async fn stop(self) {
        self.state.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    async fn put(&self, id: &str, body: &Value) {
        let resp = reqwest::Client::new()
            .put(format!(
                "{}/api/v1/articles/{}",
                self.base,
                common::urlencode(id)
            ))
            .bearer_auth(common::PUBLISHER_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "PUT {id}: {}", resp.status());
    }

    async fn body(&self, path: &str) -> Vec<u8> {
        let resp = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        resp.bytes().await.unwrap().to_vec()
    }

    /// The ids of the feed at `path` (any format), in order, as feed-rs reads them.
    pub async fn ids(&self, path: &str) -> Vec<String> {
        let body = self.body(path).await;
        let feed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
        feed.entries.into_iter().map(|e| e.id).collect()
    }

    /// Every id of the news and `all` feeds in every format, once `n` articles show in each.
    async fn every_id(&self, n: usize) -> Vec<String> {
        let shown = eventually(WAIT, || async {
            self.ids("/feeds/all.json").await.len() == n
        })
        .await;
        assert!(shown, "the feeds never showed {n} articles");
        let mut ids = Vec::new();
        for path in [
            "/feeds/news.rss",
            "/feeds/news.atom",
            "/feeds/news.json",
            "/feeds/all.rss",
            "/feeds/all.atom",
            "/feeds/all.json",
        ] {
            ids.extend(self.ids(path).await);
        }
        ids
    }

    /// The Atom document's own `<id>`.
    pub async fn atom_feed_id(&self, slug: &str) -> String {
        let body = self.body(&format!("/feeds/{slug}.atom")).await;
        feed_rs::parser::parse(&body[..]).unwrap().id
    }
}

fn base_url(url: &'static str) -> impl FnOnce(&mut Config) {
    move |c| c.site.base_url = url.into()
}

async fn publish_two(app: &Running) {
    app.put("news/congress", &common::article("news", "代表大会召开"))
        .await;
    let mut other = common::article("news", "职工书屋开放");
    other["published_at"] = "2025-02-22T09:00:00+08:00".into();
    app.put("news/reading-room", &other).await;
}

/// Generates a `sqlite` and a `postgres` test for each body, each given a fresh [`Db`].
macro_rules! on_both_databases {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $db = Db::new(common::Backend::Sqlite).await.unwrap();
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some($db) = Db::new(common::Backend::Postgres).await else {
                        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
                        return;
                    };
                    $body
                }
            }
        )*
    };
}
pub(crate) use on_both_databases;

on_both_databases! {
    async fn ids_are_equal_after_a_restart_on_another_base_url(db) {
        let clock = Clock::manual(common::test_start());
        let staging = Running::start(&db, &clock, base_url(STAGING)).await;
        publish_two(&staging).await;
        let before = staging.every_id(2).await;
        // Newest first: the reading room opened a day after the congress.
        assert_eq!(before[0], "tag:staging.example.net,2026-03-01:article/news%2Freading-room");
        assert_eq!(before[1], "tag:staging.example.net,2026-03-01:article/news%2Fcongress");
        let feed_id = staging.atom_feed_id("news").await;
        staging.stop().await;

        // A year later, on the real domain.
        clock.advance(Span::days(400));
        let real = Running::start(&db, &clock, base_url(REAL)).await;
        assert_eq!(real.every_id(2).await, before);
        assert_eq!(real.atom_feed_id("news").await, feed_id);
        // The new address is in effect for everything else.
        let rss = String::from_utf8(real.body("/feeds/news.rss").await).unwrap();
        assert!(rss.contains("https://www.qhgh.example.org/feeds/news.rss"), "{rss}");
        assert!(!rss.contains("staging.example.net/"), "{rss}");
        real.stop().await;
    }

    async fn feeds_id_authority_names_the_ids_of_a_new_database(db) {
        let clock = Clock::manual(common::test_start());
        let app = Running::start(&db, &clock, |c| {
            c.site.base_url = STAGING.into();
            c.feeds.id_authority = Some("QHGH.Example.org".into());
        })
        .await;
        publish_two(&app).await;
        let ids = app.every_id(2).await;
        assert!(ids.iter().all(|id| id.starts_with("tag:qhgh.example.org,2026-03-01:article/news%2F")), "{ids:?}");
        assert_eq!(app.atom_feed_id("news").await, "tag:qhgh.example.org,2026-03-01:feed/news");
        app.stop().await;
    }

    async fn feeds_id_authority_set_before_the_first_publication_takes_effect(db) {
        let clock = Clock::manual(common::test_start());
        Running::start(&db, &clock, base_url(STAGING)).await.stop().await;

        clock.advance(Span::days(1));
        let app = Running::start(&db, &clock, |c| c.feeds.id_authority = Some("qhgh.example.org".into())).await;
        publish_two(&app).await;
        let ids = app.every_id(2).await;
        // Nothing was published under the first identity, so nobody saw an id of it.
        assert!(ids.iter().all(|id| id.starts_with("tag:qhgh.example.org,2026-03-02:article/")), "{ids:?}");
        app.stop().await;
    }

    async fn feeds_id_authority_set_after_the_first_publication_changes_no_id(db) {
        let clock = Clock::manual(common::test_start());
        let first = Running::start(&db, &clock, base_url(STAGING)).await;
        publish_two(&first).await;
        let before = first.every_id(2).await;
        first.stop().await;

        clock.advance(Span::days(30));
        let later = Running::start(&db, &clock, |c| {
            c.site.base_url = REAL.into();
            c.feeds.id_authority = Some("qhgh.example.org".into());
        })
        .await;
        assert_eq!(later.every_id(2).await, before);
        assert!(before[0].starts_with("tag:staging.example.net,2026-03-01:"), "{before:?}");
        later.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_together_on_different_base_urls_serve_the_same_ids() {
    let Some(db) = Db::new(common::Backend::Postgres).await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL test not run");
        return;
    };
    let clock = Clock::manual(common::test_start());
    // Both race to fix the identity of a fresh database; both must read the winner's.
    let (a, b) = tokio::join!(
        Running::start(&db, &clock, base_url(STAGING)),
        Running::start(&db, &clock, base_url(REAL)),
    );
    publish_two(&a).await;
    let from_a = a.every_id(2).await;
    let from_b = b.every_id(2).await;
    assert_eq!(from_a, from_b);
    assert!(from_a[0].contains(",2026-03-01:article/"), "{from_a:?}");
    a.stop().await;
    b.stop().await;
}
