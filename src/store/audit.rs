//! The audit log: every change made through the console, the CLI's account commands and the
//! API tokens, with who, what, before → after, when and from where.

use anyhow::Context;

use super::{Store, read_pool, write_tx};
use crate::{
    clock::from_ms,
    domain::{Audit, AuditEntry, AuditKind},
};

/// Writes `$audit` (a [`Audit`]) at `$now` (ms) inside the open transaction `$tx`, so that
/// the entry commits or rolls back with the change it describes.
macro_rules! insert_audit {
    ($tx:expr, $audit:expr, $now:expr) => {{
        let audit: &$crate::domain::Audit = $audit;
        sqlx::query(
            "INSERT INTO audit_log (at, actor, kind, target, before_text, after_text, client)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($now)
        .bind(&audit.actor)
        .bind(audit.kind.as_str())
        .bind(&audit.target)
        .bind(&audit.before)
        .bind(&audit.after)
        .bind(&audit.client)
        .execute(&mut *$tx)
        .await
        .context("record audit entry")
    }};
}
pub(crate) use insert_audit;

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    at: i64,
    actor: String,
    #[sqlx(try_from = "String")]
    kind: AuditKind,
    target: String,
    before_text: Option<String>,
    after_text: Option<String>,
    client: Option<String>,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> Self {
        AuditEntry {
            id: r.id,
            at: from_ms(r.at),
            actor: r.actor,
            kind: r.kind,
            target: r.target,
            before: r.before_text,
            after: r.after_text,
            client: r.client,
        }
    }
}

impl Store {
    /// Records one change on its own (when there is no transaction to join).
    pub async fn record_audit(&self, audit: &Audit, now_ms: i64) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit audit entry")?;
        });
        Ok(())
    }

    /// Entries newest first, optionally of one person and one kind, with ids below `before`.
    pub async fn audit_entries(
        &self,
        actor: Option<&str>,
        kind: Option<AuditKind>,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let rows: Vec<Row> = read_pool!(self, |p| sqlx::query_as(
            "SELECT id, at, actor, kind, target, before_text, after_text, client FROM audit_log
             WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR kind = $2) AND id < $3
             ORDER BY id DESC LIMIT $4"
        )
        .bind(actor.unwrap_or(""))
        .bind(kind.map_or("", AuditKind::as_str))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(p)
        .await
        .context("list audit entries"))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Everyone who appears in the audit log, in alphabetical order (for its filter).
    pub async fn audit_actors(&self) -> anyhow::Result<Vec<String>> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT DISTINCT actor FROM audit_log ORDER BY actor"
        )
        .fetch_all(p)
        .await
        .context("list audit actors"))
    }
}
