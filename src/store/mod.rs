//! The one `Store`: every query the service runs, on SQLite or PostgreSQL.
//!
//! Queries are runtime-checked and written once with `$N` placeholders (both drivers accept
//! them); the few dialect differences are spelled out next to the query that needs them.
//! SQLite gets a single-connection writer pool whose transactions start with
//! `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing with "database is locked".

mod admin_accounts;
mod admin_sessions;
mod announcements;
mod api_tokens;
mod article_bulk;
mod article_bulk_plan;
mod article_bulk_postgres;
mod article_bulk_sqlite;
mod articles;
mod audit;
mod budgets;
mod claims;
mod deferred_signups;
mod digest_content;
mod digest_copies;
mod display_names;
mod external_changes;
mod feeds;
mod import_files;
mod inbound;
mod inbound_views;
mod instant;
mod ledger;
mod ledger_outcomes;
mod resubscribe;
mod retention;
mod run_counters;
mod run_views;
mod schedules;
mod secrets;
mod sections;
mod sources;
mod sqlite_pools;
mod statistics;
mod subscribe;
mod subscriber_admin;
mod subscriber_changes;
mod subscriber_import;
mod subscribers;

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

pub use admin_accounts::LoginSecret;
pub use admin_sessions::{NewSession, SessionRow};
pub use announcements::{Announced, Announcement};
pub use api_tokens::StoredToken;
pub use article_bulk::BulkOutcome;
pub use articles::{ArticleCursor, ArticlePage, PutOutcome, PutResult};
pub use claims::ClaimKey;
pub use deferred_signups::DeferredSignup;
pub use digest_content::{Recipient, RunInfo};
pub use digest_copies::{DigestCopy, NewCopy};
pub use external_changes::ExternalChange;
pub use feeds::FeedSection;
pub use import_files::{ImportedFile, KnownFile};
pub use inbound::{Applied, DeliveryRef, Effect, InboundEvent};
pub use inbound_views::{InboundCounts, InboundListed, InboundRecord, Suppression};
pub use instant::InstantTick;
pub use ledger::{
    Claim, Claimed, Intent, IntentAnswer, ORPHAN_ERROR, Outcome, Recorded, Reported, RetryPolicy,
    Window,
};
pub use retention::{PurgePosition, Purged};
pub use sections::SectionDeletion;
pub use sources::{SourceItem, SourceState, Validators};
pub use subscribe::IssuedHashes;
pub use subscriber_admin::SubscriberCursor;
pub use subscriber_import::{ImportOutcome, ImportRow};
pub use subscribers::{SubscribeOutcome, TokenMatch};

/// Which database the URL pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
enum Db {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// Rows bulk writes changed per table, for ANALYZE (see `statistics`).
    stats: statistics::Statistics,
}

/// Runs `$body` with `$p` bound to a pool suitable for reads.
macro_rules! read_pool {
    ($store:expr, |$p:ident| $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { reader: $p, .. } => $body,
            $crate::store::Db::Postgres($p) => $body,
        }
    };
}
pub(crate) use read_pool;

/// Runs `$body` with `$tx` bound to an open write transaction; `$body` must commit.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { writer, .. } => {
                let mut $tx = writer
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .context("begin write transaction")?;
                $body
            }
            $crate::store::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await.context("begin write transaction")?;
                $body
            }
        }
    };
}
pub(crate) use write_tx;

/// Most items of a caller's list that go to the database at once: ids bound in one
/// `IN (…)` (a parameter each, far below the limits of SQLite, 32,766, and PostgreSQL, 65,535,
/// whatever the list's length) or rows written in one transaction (so that SQLite's single
/// writer is not held for the whole list). Multi-row `VALUES` statements, whose binding cost
/// grows faster, use the smaller `ledger_outcomes::CHUNK`.
const MAX_BATCH: usize = 500;

/// Longest [`Store::close`] waits for connections in use to come back.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Store {
    /// Opens the database named by `url`, creating a SQLite file (and its folder) if needed.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, 16).await
    }

    /// Opens the database with at most `max_connections` connections per pool.
    pub async fn connect_with(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // A process stopped (SIGSTOP, a frozen VM) in the middle of a transaction keeps
            // its row locks; the other processes' claims skip those deliveries for as long as
            // it holds them. Every transaction here is a few quick statements, so a session idle
            // inside one for this long is stalled: the server ends it and the locks go.
            let opts = PgConnectOptions::from_str(url)
                .context("parse database.url")?
                .options([("idle_in_transaction_session_timeout", "10s")]);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .context("connect to PostgreSQL")?;
            return Ok(Self {
                db: Db::Postgres(pool),
                stats: Default::default(),
            });
        }
        let opts = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("parse database.url {url:?}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives power loss, not only a killed process.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(parent) = Path::new(opts.get_filename()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create database folder {}", parent.display()))?;
        }
        let (writer, reader) = sqlite_pools::open(opts, max_connections.clamp(1, 16)).await?;
        Ok(Self {
            db: Db::Sqlite { writer, reader },
            stats: Default::default(),
        })
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The PostgreSQL pool, for LISTEN/NOTIFY; `None` on SQLite.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(p) => Some(p),
            Db::Sqlite { .. } => None,
        }
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.db {
            Db::Sqlite { writer, .. } => sqlx::migrate!("migrations/sqlite")
                .run(writer)
                .await
                .context("apply SQLite migrations"),
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres")
                .run(pool)
                .await
                .context("apply PostgreSQL migrations"),
        }
    }

    /// Answers whether the database responds to a trivial query.
    pub async fn ping(&self) -> bool {
        // `1` is INT4 on PostgreSQL and INTEGER on SQLite: i32 decodes from both.
        let r: Result<i32, _> =
            read_pool!(self, |p| sqlx::query_scalar("SELECT 1").fetch_one(p).await);
        if let Err(e) = &r {
            tracing::warn!(error = %e, "database did not answer the readiness check");
        }
        r.is_ok()
    }

    /// Closes every pool, waiting for connections to be returned.
    ///
    /// New queries fail at once. Closing waits for connections still checked out (a PostgreSQL
    /// LISTEN connection holds one for as long as it listens), so the wait is bounded.
    pub async fn close(&self) {
        // A command that made a bulk change (an import) lets its ANALYZE finish first.
        self.statistics_settled(std::time::Duration::from_secs(1))
            .await;
        let closing = async {
            match &self.db {
                Db::Sqlite { writer, reader } => {
                    reader.close().await;
                    writer.close().await;
                }
                Db::Postgres(p) => p.close().await,
            }
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
            tracing::warn!(
                "database connections still in use after {CLOSE_TIMEOUT:?}; closing anyway"
            );
        }
    }
}
mod subscriber_console;
pub use subscriber_console::{ConsoleCursor, HistoryNote, PersonDelivery, SubscriberQuery};
mod subscriber_uploads;
pub use subscriber_uploads::Upload;
mod console_runs;
mod growth;
mod site_settings;
pub use growth::{GrowthBucket, GrowthHistory};
mod admin_people;
pub use admin_people::PersonChange;
mod console_articles;
mod console_sections;
pub use console_articles::{ArticleFilter, ArticleShown, ConsoleArticle, ConsoleArticlePage};
pub use console_sections::{SectionFigures, SectionTexts};
mod send_budgets;
pub use send_budgets::SendBudget;
mod feed_identity;
pub use feed_identity::StoredFeedIdentity;
mod planning;
pub use planning::{Audience, PLAN_CHUNK, PLAN_LEASE_MS, PlanLease, PlanStep};
mod planning_audience;
mod subscriber_bulk;
mod subscriber_bulk_rows;
