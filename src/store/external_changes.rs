//! Changes made by a process that does not serve (`tidings import`), kept on SQLite for the
//! running server to notice (issue 15). PostgreSQL has `NOTIFY` for this (see `events`);
//! SQLite has nothing like it, so the importer appends the sections each committed batch
//! changed and the server reads what is new by sequence number, an indexed range read.
//! Rows older than [`KEEP_MS`] are pruned by the next writer; a server that finds a gap in
//! the sequence (it was stalled for that long) rebuilds everything.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{Db, Store};
use crate::clock::to_ms;

/// How long a recorded change stays: many times the servers' polling interval.
const KEEP_MS: i64 = 10 * 60 * 1000;

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalChange {
    /// Its place in the sequence; numbers are consecutive (one writer, and a rolled-back
    /// insert gives its number back).
    pub seq: i64,
    /// Sections whose feeds changed.
    pub sections: Vec<String>,
}

impl Store {
    /// Records, for running servers (SQLite only), that `sections` changed; prunes old
    /// records.
    pub async fn record_external_change(
        &self,
        sections: &[String],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Db::Sqlite { writer, .. } = &self.db else {
            anyhow::bail!("changes are recorded in the database on SQLite only");
        };
        let json = serde_json::to_string(sections).context("encode sections")?;
        let mut tx = writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("begin recording a change")?;
        sqlx::query("DELETE FROM external_changes WHERE created_at < $1")
            .bind(to_ms(now) - KEEP_MS)
            .execute(&mut *tx)
            .await
            .context("prune recorded changes")?;
        sqlx::query("INSERT INTO external_changes (sections, created_at) VALUES ($1, $2)")
            .bind(json)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await
            .context("record a change")?;
        tx.commit().await.context("commit a recorded change")
    }

    /// The sequence number of the last change ever recorded (0 for none), pruned or not:
    /// where a server starts reading.
    pub async fn last_external_change(&self) -> anyhow::Result<i64> {
        let Db::Sqlite { reader, .. } = &self.db else {
            anyhow::bail!("changes are recorded in the database on SQLite only");
        };
        // AUTOINCREMENT keeps the highest number ever given in sqlite_sequence, which
        // outlives pruning; the table itself is the answer before its first insert.
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'external_changes'")
                .fetch_optional(reader)
                .await
                .context("read the last recorded change")?;
        Ok(seq.unwrap_or(0))
    }

    /// Up to `limit` changes recorded after `seq`, oldest first.
    pub async fn external_changes_after(
        &self,
        seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<ExternalChange>> {
        let Db::Sqlite { reader, .. } = &self.db else {
            anyhow::bail!("changes are recorded in the database on SQLite only");
        };
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, sections FROM external_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(reader)
        .await
        .context("read recorded changes")?;
        rows.into_iter()
            .map(|(seq, json)| {
                let sections = serde_json::from_str(&json).context("decode recorded sections")?;
                Ok(ExternalChange { seq, sections })
            })
            .collect()
    }
}
