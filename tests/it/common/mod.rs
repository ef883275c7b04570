//! Test harness: the real app on port 0 with its own database (a temp SQLite file, or a fresh
//! PostgreSQL database when `TIDINGS_TEST_POSTGRES_URL` is set), driven over real HTTP.
#![allow(dead_code)]

pub mod admin;
pub mod browser;
pub mod dovecot;
pub mod fault_smtp;
pub mod feed_checks;
pub mod feeds;
pub mod process;
pub mod raw_http;
pub mod site;
#[macro_use]
pub mod smtp;
#[macro_use]
pub mod sources;
pub mod subscriptions;
pub mod w3c;

use std::{net::SocketAddr, path::PathBuf};

use chrono::{DateTime, Utc};
use tidings::{App, AppState, clock::Clock, config::Config};

pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789";
pub const PUBLISHER_TOKEN: &str = "publisher-token-for-tests-0123456789";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running app and what the test needs to reach it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The inbound SMTP receiver, when the test set `[inbound] bind`.
    pub inbound_addr: Option<SocketAddr>,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Clock,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub database_url: String,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg: Option<PgDatabase>,
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async context guarantees: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut c)
                            .await;
                }
            });
        })
        .join();
    }
}

/// The PostgreSQL server tests may use, if any (`TIDINGS_TEST_POSTGRES_URL`). When it is set,
/// a server that cannot be reached fails the variant; `tests/run.sh` fails a whole-suite run
/// in which no PostgreSQL variant ran.
pub fn postgres_url() -> Option<String> {
    std::env::var("TIDINGS_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Creates a fresh, uniquely named PostgreSQL database; returns its URL and its guard.
pub async fn create_pg_database() -> (String, PgDatabase) {
    use sqlx::Connection;
    let admin_url = postgres_url().expect("TIDINGS_TEST_POSTGRES_URL");
    let name = format!("tidings_test_{}", rand_suffix());
    let mut c = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to TIDINGS_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut c)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("postgres url");
    url.set_path(&format!("/{name}"));
    (url.to_string(), PgDatabase { admin_url, name })
}

fn rand_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("{n:016x}")
}

/// A config for tests: port 0, known tokens, mail to files in `dir`, no sources.
pub fn test_config(dir: &std::path::Path, database_url: &str) -> Config {
    let toml = format!(
        r#"
[site]
base_url = "http://feeds.example.test"
[server]
bind = "127.0.0.1:0"
[database]
url = "{database_url}"
max_connections = 5
[auth]
admin_token = "{ADMIN_TOKEN}"
publisher_token = "{PUBLISHER_TOKEN}"
[mail]
transport = "file"
outbox_dir = "{outbox}"
"#,
        outbox = dir.join("outbox").display()
    );
    Config::from_toml_str(&toml).expect("test config")
}

/// The instant a test's manual clock starts at.
pub fn test_start() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

/// Starts the app on `backend`; `None` for PostgreSQL when no server is configured.
pub async fn try_spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`try_spawn_app`], letting the test adjust the config first.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    // `RUST_LOG=tidings=debug cargo test … -- --nocapture` shows what the app did.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, pg) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("tidings.db").display()),
            None,
        ),
        Backend::Postgres => {
            postgres_url()?;
            let (url, guard) = create_pg_database().await;
            (url, Some(guard))
        }
    };
    let mut config = test_config(dir.path(), &database_url);
    tweak(&mut config);
    let clock = Clock::manual(test_start());
    let app = App::build_with_clock(config, clock.clone())
        .await
        .expect("build app");
    let addr = app.local_addr();
    let inbound_addr = app.inbound_addr();
    let state = app.state();
    let task = tokio::spawn(app.run());
    Some(TestApp {
        addr,
        inbound_addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        clock,
        dir,
        backend,
        database_url,
        task: Some(task),
        pg,
    })
}

impl TestApp {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// PUT an article as the publisher.
    pub async fn put_article(&self, id: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/api/v1/articles/{}", urlencode(id))))
            .bearer_auth(PUBLISHER_TOKEN)
            .json(body)
            .send()
            .await
            .expect("PUT article")
    }

    /// POST `csv` to `/api/v1/subscribers/import` as the admin.
    pub async fn import_subscribers(&self, csv: &str) -> reqwest::Response {
        post_import(&self.client, &self.base, csv).await
    }

    /// Imports `csv` (header line included) through the admin API; panics unless accepted.
    pub async fn import_ok(&self, csv: &str) {
        import_ok(&self.client, &self.base, csv).await;
    }

    /// GET an article as the publisher.
    pub async fn get_article(&self, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/v1/articles/{}", urlencode(id))))
            .bearer_auth(PUBLISHER_TOKEN)
            .send()
            .await
            .expect("GET article")
    }

    /// A `TestApp` over an app the test built and runs itself (one of several replicas on
    /// one database): dropping it shuts that app down.
    pub fn attach(
        addr: SocketAddr,
        state: AppState,
        clock: Clock,
        backend: Backend,
        database_url: &str,
    ) -> Self {
        Self {
            addr,
            inbound_addr: None,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            state,
            clock,
            dir: tempfile::tempdir().expect("temp dir"),
            backend,
            database_url: database_url.to_owned(),
            task: None,
            pg: None,
        }
    }

    /// Stops the app and waits for it to finish.
    pub async fn stop(mut self) {
        self.state.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// Percent-encodes a path segment.
/// POSTs `csv` to the subscriber import of the service at `base` (this process's app or a
/// `tidings serve` of its own) as the admin.
pub async fn post_import(client: &reqwest::Client, base: &str, csv: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/subscribers/import"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("POST subscribers import")
}

/// [`post_import`], panicking with the answer unless the import was accepted.
pub async fn import_ok(client: &reqwest::Client, base: &str, csv: &str) {
    let r = post_import(client, base, csv).await;
    let status = r.status();
    assert!(
        status.is_success(),
        "import: {status} {}",
        r.text().await.unwrap_or_default()
    );
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The fixture articles of `content/` (copied from the shared fixtures).
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("content")
}

/// The green-compute fixture as an API body: front matter fields plus Markdown content.
pub fn fixture_article() -> serde_json::Value {
    let raw = std::fs::read_to_string(fixture_dir().join("news/qinghai-green-compute.md")).unwrap();
    let rest = raw.strip_prefix("+++\n").expect("TOML front matter");
    let end = rest.find("\n+++\n").expect("front matter end");
    let front: toml::Value = toml::from_str(&rest[..end]).expect("front matter");
    let body = &rest[end + 5..];
    let mut v = toml_to_json(front);
    v["section"] = "news".into();
    v["content_markdown"] = body.into();
    v
}

/// A small valid article body for `section`.
pub fn article(section: &str, title: &str) -> serde_json::Value {
    serde_json::json!({
        "section": section,
        "title": title,
        "url": "https://www.example.org/news/a.html",
        "content_html": "<p>职工之家建设取得新进展。</p>",
        "published_at": "2025-02-21T09:00:00+08:00",
    })
}

/// Runs `$body` with `$pool` connected to the database at `$url`, whichever backend it is.
macro_rules! with_pool {
    ($url:expr, |$pool:ident| $body:expr) => {
        if $url.starts_with("sqlite:") {
            let $pool = sqlx::SqlitePool::connect($url).await.unwrap();
            let out = $body;
            $pool.close().await;
            out
        } else {
            let $pool = sqlx::PgPool::connect($url).await.unwrap();
            let out = $body;
            $pool.close().await;
            out
        }
    };
}

/// Generates a `sqlite` and a `postgres` test for each body; the PostgreSQL one runs when
/// `TIDINGS_TEST_POSTGRES_URL` is set and says so when it is not.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = common::try_spawn_app(common::Backend::Sqlite).await.unwrap();
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some($app) = common::try_spawn_app(common::Backend::Postgres).await else {
                        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
                        return;
                    };
                    $body
                }
            }
        )*
    };
}

/// Front matter to JSON; TOML dates become their RFC 3339 text.
pub fn toml_to_json(v: toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => s.into(),
        toml::Value::Integer(i) => i.into(),
        toml::Value::Float(f) => f.into(),
        toml::Value::Boolean(b) => b.into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.into_iter().map(toml_to_json).collect(),
        toml::Value::Table(t) => t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect(),
    }
}
