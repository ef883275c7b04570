//! Shared set-up of the source tests (tests/sources_*.rs): an app with given sources, one
//! configured source by name, a fetcher, a section's stored articles.

use std::time::Duration;

use tidings::{
    articles::{
        Article,
        sources::{Fetcher, Source},
    },
    config::SourceConfig,
};

use super::{Backend, TestApp};

/// Runs each named `async fn(Backend)` as a `sqlite` and a `postgres` test (the latter skipped
/// when `TIDINGS_TEST_POSTGRES_URL` is unset).
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if super::common::postgres_url().is_none() {
                    eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
                    return;
                }
                super::$name(super::common::Backend::Postgres).await;
            }
        }
    )*};
}

/// The app with `sources` configured.
pub async fn app_with(backend: Backend, sources: Vec<SourceConfig>) -> TestApp {
    super::spawn_app_with(backend, |c| c.sources = sources)
        .await
        .expect("app")
}

/// The configured source called `name`.
pub fn source(app: &TestApp, name: &str) -> Source {
    Source::all(&app.state.config)
        .into_iter()
        .find(|s| s.name == name)
        .expect("configured source")
}

/// A fetcher with a tidings-like User-Agent and `timeout` per request.
pub fn fetcher(timeout: Duration) -> Fetcher {
    Fetcher::new(
        "Mozilla/5.0 (compatible; tidings/test; +http://feeds.example.test)",
        timeout,
    )
    .unwrap()
}

/// The stored articles of `section` (up to 100).
pub async fn articles(app: &TestApp, section: &str) -> Vec<Article> {
    let page = app
        .state
        .store
        .list_articles(Some(section), None, 100, None);
    page.await.unwrap().items
}
