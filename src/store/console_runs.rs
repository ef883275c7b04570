//! What the console's schedule and run pages need beyond the API's queries: how many a run
//! would mail, putting a run's failed deliveries back in the queue, and how many test
//! digests a person sent lately.

use anyhow::Context;

// `read_pool!` and `write_tx!` are in textual scope: this module is declared after them.
use super::{Store, audit::insert_audit};
use crate::domain::{Audit, AuditKind};

impl Store {
    /// Active subscribers of schedule `slug`: the deliveries a run of it now would plan.
    pub async fn count_active_of_schedule(&self, slug: &str) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscribers WHERE schedule = $1 AND status = 'active'"
        )
        .bind(slug)
        .fetch_one(p)
        .await
        .context("count active subscribers of a schedule"))
    }

    /// Puts the `failed` deliveries of run `run` back in the queue (pending, due now, a fresh
    /// set of attempts, their last SMTP reply kept) and the run back to `running`, with
    /// `audit`, in one transaction; how many. Only `failed` rows change: a delivery that was
    /// sent, bounced, skipped or is uncertain (it may have arrived) is never sent again, and a
    /// failed delivery holds no lease and no intent to send, so the worker's fencing applies
    /// to the retry as to any delivery.
    pub async fn retry_failed_deliveries(
        &self,
        run: i64,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<u64> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2,
                    sending_at = NULL, lease_owner = NULL, lease_until = NULL
                 WHERE run_id = $1 AND status = 'failed'",
            )
            .bind(run)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("retry failed deliveries")?
            .rows_affected();
            if n > 0 {
                // A run still planning stays so: its last chunk makes it running.
                sqlx::query(
                    "UPDATE runs SET status = 'running', finished_at = NULL
                     WHERE id = $1 AND status <> 'planning'",
                )
                .bind(run)
                .execute(&mut *tx)
                .await
                .context("reopen run")?;
                insert_audit!(tx, audit, now_ms)?;
            }
            tx.commit().await.context("commit retry")?;
            Ok(n)
        })
    }

    /// Audit entries of `kind` by `actor` at or after `since_ms` (a per-person rate limit).
    pub async fn count_audit_since(
        &self,
        actor: &str,
        kind: AuditKind,
        since_ms: i64,
    ) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE actor = $1 AND kind = $2 AND at >= $3"
        )
        .bind(actor)
        .bind(kind.as_str())
        .bind(since_ms)
        .fetch_one(p)
        .await
        .context("count audit entries"))
    }
}
