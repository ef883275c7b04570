//! Importing subscribers who already consented: active at once, confirmed at import, and
//! never re-subscribing someone who unsubscribed or bounced.
//!
//! PostgreSQL takes a batch by `COPY` and set-based merges (`subscriber_bulk`); SQLite, whose
//! one writer is in this process and answers without a round trip, row by row, which is
//! quick there and keeps its write transactions short.

use anyhow::Context;
use sqlx::SqliteConnection;

use super::{Db, Store, subscribers::write_prefs};
use crate::domain::{Preferences, SubscriberStatus};

/// Rows per import batch on PostgreSQL: each batch costs the same few statements whatever its
/// size, so a bigger one spreads them thinner (and its temporary tables stay small).
const PG_BATCH: usize = 10_000;
/// Rows per import batch on SQLite: its single writer is held for a whole batch, and other
/// writers (sign-ups, the delivery ledger) wait meanwhile.
const SQLITE_BATCH: usize = 500;

/// One valid row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub email: String,
    pub prefs: Preferences,
}

/// What an import did with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new active subscriber.
    Created,
    /// An existing pending or active subscriber, now active with the row's choices.
    Updated,
    /// Left alone: this person unsubscribed or bounced, and an import must not undo that.
    Skipped(SubscriberStatus),
}

impl Store {
    /// How many rows a caller should pass to [`Store::import_subscribers`] at once.
    pub fn import_batch_rows(&self) -> usize {
        match self.db {
            Db::Postgres(_) => PG_BATCH,
            Db::Sqlite { .. } => SQLITE_BATCH,
        }
    }

    /// Imports already-consented rows as active subscribers, confirmed now; one transaction.
    /// Rows are taken in order: an address given twice is created (or updated) by its first
    /// row and updated by the next, whose choices stay.
    #[tracing::instrument(skip_all, fields(rows = rows.len()))]
    pub async fn import_subscribers(
        &self,
        rows: &[ImportRow],
        now_ms: i64,
    ) -> anyhow::Result<Vec<ImportOutcome>> {
        let out = match &self.db {
            Db::Postgres(pool) => self.import_by_copy(pool, rows, now_ms).await?,
            Db::Sqlite { writer, .. } => {
                let mut tx = writer
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .context("begin write transaction")?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    out.push(import_one(&mut tx, row, now_ms).await?);
                }
                tx.commit().await.context("commit import")?;
                out
            }
        };
        self.note_imported(rows.len() as u64);
        Ok(out)
    }
}

/// One row on SQLite: inserted with its choices, or else the existing person updated or left
/// alone.
async fn import_one(
    tx: &mut SqliteConnection,
    row: &ImportRow,
    now_ms: i64,
) -> anyhow::Result<ImportOutcome> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO subscribers (email, status, all_sections, schedule, locale,
            generation, created_at, confirmed_at, source)
         VALUES ($1, 'active', $2, $3, $4, 1, $5, $5, 'import')
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&row.email)
    .bind(row.prefs.sections.is_none())
    .bind(&row.prefs.schedule)
    .bind(&row.prefs.locale)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await
    .context("insert imported subscriber")?;
    if let Some(id) = inserted {
        // A new row has its choices already and no sections to clear.
        for section in row.prefs.sections.iter().flatten() {
            sqlx::query("INSERT INTO subscriber_sections (subscriber_id, section) VALUES ($1, $2)")
                .bind(id)
                .bind(section)
                .execute(&mut *tx)
                .await
                .context("insert section")?;
        }
        return Ok(ImportOutcome::Created);
    }
    // SQLite's one writer holds the whole database: no row lock is needed (or exists).
    let (id, status): (i64, String) =
        sqlx::query_as("SELECT id, status FROM subscribers WHERE email = $1")
            .bind(&row.email)
            .fetch_one(&mut *tx)
            .await
            .context("read subscriber")?;
    match SubscriberStatus::parse(&status)? {
        s @ (SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced) => {
            Ok(ImportOutcome::Skipped(s))
        }
        _ => {
            sqlx::query(
                "UPDATE subscribers SET status = 'active',
                    confirmed_at = COALESCE(confirmed_at, $2) WHERE id = $1",
            )
            .bind(id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("activate imported subscriber")?;
            write_prefs!(tx, id, &row.prefs);
            Ok(ImportOutcome::Updated)
        }
    }
}
