//! Article sources besides the publisher API (SPEC §3): a content directory watched live, web
//! pages of sites without feeds, and upstream RSS/Atom feeds. Each runs in its own task, feeds
//! every article through [`Ingest`](crate::articles::Ingest), records its health in
//! `source_state`, and stops on `state.shutdown`.

mod charset;
mod dates;
pub mod directory;
mod extract;
mod feed;
mod fetch;
mod health;
pub mod import;
mod web;

use std::{sync::Arc, time::Duration};

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

pub use dates::parse_date;
pub use directory::DirectorySource;
pub use feed::FeedSource;
pub use fetch::{Fetched, Fetcher, Page};
pub use web::WebSource;

use crate::{
    AppState,
    articles::ArticleInput,
    config::{Config, SourceConfig},
    domain::SourceType,
};

/// How long one HTTP request of a source may take, body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A configured source, ready to run.
pub struct Source {
    /// Unique name: `name` from the config, else the path or URL it watches.
    pub name: String,
    pub kind: SourceKind,
}

/// What a source watches.
pub enum SourceKind {
    Directory(DirectorySource),
    Web(WebSource),
    Feed(FeedSource),
}

/// What one poll (or one batch of file changes) found.
#[derive(Debug, Default, Clone)]
pub struct PollReport {
    /// The list page or feed answered 304: nothing was looked at.
    pub not_modified: bool,
    /// Items the source yields now (links, entries or files).
    pub items_found: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub retracted: usize,
    /// One line per item that could not be used, saying where and what is wrong.
    pub failed: Vec<String>,
}

impl Source {
    /// Builds the source of one validated `[[sources]]` entry.
    pub fn from_config(config: &SourceConfig, site: &Config) -> anyhow::Result<Self> {
        let kind = match config {
            SourceConfig::Directory { path, .. } => {
                SourceKind::Directory(DirectorySource::new(path.clone(), site))
            }
            SourceConfig::Web { .. } => SourceKind::Web(WebSource::from_config(config, site)?),
            SourceConfig::Feed { .. } => SourceKind::Feed(FeedSource::from_config(config)?),
        };
        Ok(Self {
            name: config.name(),
            kind,
        })
    }

    /// Every configured source, by name; a later entry with a name already taken is dropped.
    pub fn all(config: &Config) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::new();
        for (i, c) in config.sources.iter().enumerate() {
            match Self::from_config(c, config) {
                Ok(s) if out.iter().any(|o| o.name == s.name) => {
                    tracing::error!(source = %s.name, "sources[{i}]: duplicate source name; ignored");
                }
                Ok(s) => out.push(s),
                Err(e) => tracing::error!("sources[{i}]: {e:#}; not started"),
            }
        }
        out
    }

    /// Which kind of source this is.
    pub fn kind_type(&self) -> SourceType {
        match self.kind {
            SourceKind::Directory(_) => SourceType::Directory,
            SourceKind::Web(_) => SourceType::Web,
            SourceKind::Feed(_) => SourceType::Feed,
        }
    }
}

/// "Check now" requests: a wake-up per polled source of this process (the console's
/// sources page asks; the source's loop polls at once instead of at its next turn).
#[derive(Clone, Default)]
pub struct Checks(
    Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>>,
);

impl Checks {
    /// The wake-up of source `name` (made on first use).
    fn of(&self, name: &str) -> Arc<tokio::sync::Notify> {
        self.0
            .lock()
            .expect("checks lock")
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Asks source `name` to poll now; `false` if no poll loop of that name runs here.
    pub fn request(&self, name: &str) -> bool {
        let map = self.0.lock().expect("checks lock");
        match map.get(name) {
            Some(n) => {
                // A permit is kept if the loop is busy polling: it polls again right after.
                n.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The User-Agent of every request: browser-like so that old CMSs answer normally, and honest
/// about who asks and where to find them.
pub fn user_agent(config: &Config) -> String {
    format!(
        "Mozilla/5.0 (compatible; tidings/{}; +{})",
        env!("CARGO_PKG_VERSION"),
        config.site.base_url
    )
}

/// Starts every configured source.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    let fetcher = match Fetcher::new(&user_agent(&state.config), FETCH_TIMEOUT) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            tracing::error!("sources not started: {e:#}");
            return;
        }
    };
    for source in Source::all(&state.config) {
        let state = state.clone();
        match source.kind {
            SourceKind::Directory(dir) => {
                tasks.spawn(directory::run(state, source.name, dir));
            }
            SourceKind::Web(_) | SourceKind::Feed(_) => {
                tasks.spawn(poll_loop(state, fetcher.clone(), source));
            }
        }
    }
}

/// Polls a web or feed source once and records the outcome (health, metrics, warnings).
/// A directory source is watched instead; polling it answers an empty report.
pub async fn poll_once(state: &AppState, fetcher: &Fetcher, source: &Source) -> PollReport {
    let result = match &source.kind {
        SourceKind::Web(w) => web::poll(state, fetcher, &source.name, w).await,
        SourceKind::Feed(f) => feed::poll(state, fetcher, &source.name, f).await,
        SourceKind::Directory(_) => return PollReport::default(),
    };
    health::record(state, &source.name, source.kind_type(), result).await
}

/// Polls on the injected clock: first within seconds of start, then every `interval` give or
/// take a tenth, so that sources on one host do not all ask at the same instant.
async fn poll_loop(state: AppState, fetcher: Arc<Fetcher>, source: Source) {
    let interval = match &source.kind {
        SourceKind::Web(w) => w.interval,
        SourceKind::Feed(f) => f.interval,
        SourceKind::Directory(_) => return,
    };
    // Keeps clock arithmetic far from overflow whatever the config says.
    let interval = interval.min(Duration::from_secs(30 * 24 * 3600));
    let first = chrono::TimeDelta::seconds(1) + jitter(interval.min(Duration::from_secs(10)));
    let mut next = state.clock.now() + first;
    let wake = state.source_checks.of(&source.name);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = state.clock.sleep_until(next) => {}
            _ = wake.notified() => tracing::info!(source = %source.name, "checking now, as asked"),
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = poll_once(&state, &fetcher, &source) => {}
        }
        let spread = interval / 10;
        let base = chrono::TimeDelta::from_std(interval - spread).unwrap_or(chrono::TimeDelta::MAX);
        next = state.clock.now() + base + jitter(spread * 2);
    }
}

/// A random duration in `[0, max)`.
fn jitter(max: Duration) -> chrono::TimeDelta {
    let ms = max.as_millis() as u64;
    let pick = if ms == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..ms)
    };
    chrono::TimeDelta::milliseconds(pick as i64)
}

/// A fingerprint of what a source extracted, to tell a changed item from one seen before.
fn input_hash(input: &ArticleInput) -> String {
    let mut h = Sha256::new();
    let fields = [
        input.section.as_deref(),
        input.title.as_deref(),
        input.url.as_deref(),
        input.content_html.as_deref(),
        input.content_markdown.as_deref(),
        input.summary.as_deref(),
        input.author.as_deref(),
        input.image.as_ref().map(|i| i.url.as_str()),
        input.image.as_ref().and_then(|i| i.caption.as_deref()),
        input.published_at.as_deref(),
        input.updated_at.as_deref(),
    ];
    for f in fields {
        let f = f.unwrap_or("\u{0}");
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    for t in input.tags.iter().flatten() {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The id given to a new item of a web or feed source: stable for the same upstream key.
fn item_article_id(source: &str, key: &str) -> String {
    // Names are often URLs: keep letters and digits (CJK included) so ids stay readable.
    let name: String = source
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    let name = name.trim_matches('-');
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{name}:{}", &digest[..20])
}
