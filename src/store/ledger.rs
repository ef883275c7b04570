//! The delivery ledger: one run per (schedule, fire instant), one delivery per (run,
//! subscriber), claimed with leases and completed in batches.

use anyhow::Context;

use super::{Backend, Store, read_pool, write_tx};

/// A delivery a worker holds the lease of.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub id: i64,
    pub run_id: i64,
    pub subscriber_id: i64,
    pub attempts: i64,
}

/// What happened to one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The SMTP server accepted the message.
    Sent {
        claim: Claim,
        message_id: String,
        schedule: String,
        cutoff: i64,
    },
    /// Nothing new for this subscriber (or no longer active): nothing sent.
    Skipped {
        claim: Claim,
        schedule: String,
        cutoff: i64,
    },
    /// A temporary failure: retry at `retry_at` unless attempts are used up.
    Transient {
        claim: Claim,
        error: String,
        retry_at: i64,
    },
    /// The server refused the recipient for good: the subscriber bounced.
    Permanent { claim: Claim, error: String },
}

/// Counts of the final states of a batch, for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recorded {
    pub sent: u64,
    pub skipped: u64,
    pub retried: u64,
    pub failed: u64,
    pub bounced: u64,
    /// Outcomes refused because the lease had passed to another worker.
    pub stale: u64,
}

impl Store {
    /// Creates the run for `(schedule, fire_at)` and plans a pending delivery for every active
    /// subscriber of the schedule, in one transaction. `None` when that run already exists
    /// (another process got there first). `fire_at = None` is a manual run.
    #[tracing::instrument(skip_all, fields(schedule, fire_at))]
    pub async fn plan_run(
        &self,
        schedule: &str,
        fire_at: Option<i64>,
        cutoff: i64,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO runs (schedule, fire_at, status, created_at, planned_at, cutoff, manual)
                 VALUES ($1, $2, 'running', $3, $3, $4, $5)
                 ON CONFLICT (schedule, fire_at) DO NOTHING RETURNING id",
            )
            .bind(schedule)
            .bind(fire_at)
            .bind(now_ms)
            .bind(cutoff)
            .bind(fire_at.is_none())
            .fetch_optional(&mut *tx)
            .await
            .context("insert run")?;
            let Some(id) = id else {
                return Ok(None);
            };
            // One statement plans the whole run, however many subscribers there are.
            let planned = sqlx::query(
                "INSERT INTO deliveries (run_id, subscriber_id, status, attempts, next_attempt_at)
                 SELECT $1, id, 'pending', 0, $2 FROM subscribers
                 WHERE status = 'active' AND schedule = $3
                 ON CONFLICT (run_id, subscriber_id) DO NOTHING",
            )
            .bind(id)
            .bind(now_ms)
            .bind(schedule)
            .execute(&mut *tx)
            .await
            .context("plan deliveries")?
            .rows_affected();
            if planned == 0 {
                sqlx::query("UPDATE runs SET status = 'done', finished_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("finish empty run")?;
            }
            tx.commit().await.context("commit run plan")?;
            Ok(Some(id))
        })
    }

    /// Records a fire instant that was too old to send when the service came back.
    pub async fn record_missed_run(
        &self,
        schedule: &str,
        fire_at: i64,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO runs (schedule, fire_at, status, created_at, finished_at, cutoff, manual)
                 VALUES ($1, $2, 'missed', $3, $3, $2, $4) ON CONFLICT (schedule, fire_at) DO NOTHING",
            )
            .bind(schedule)
            .bind(fire_at)
            .bind(now_ms)
            .bind(false)
            .execute(&mut *tx)
            .await
            .context("record missed run")?;
            tx.commit().await.context("commit missed run")?;
        });
        Ok(())
    }

    /// Leases up to `limit` due deliveries to `owner` until `lease_until`. Expired leases of
    /// other workers are taken over.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Claim>> {
        let skip_locked = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // In (next_attempt_at, id) order the claim walks the deliveries_claim index and stops
        // after `limit` rows; ordering by id alone sorted every pending delivery at each claim.
        let sql = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM deliveries
                          WHERE status = 'pending' AND next_attempt_at <= $3
                            AND (lease_until IS NULL OR lease_until < $3)
                          ORDER BY next_attempt_at, id LIMIT $4{skip_locked})
             RETURNING id, run_id, subscriber_id, attempts"
        );
        write_tx!(self, |tx| {
            let claims: Vec<Claim> = sqlx::query_as(&sql)
                .bind(owner)
                .bind(lease_until)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .context("claim deliveries")?;
            tx.commit().await.context("commit claims")?;
            Ok(claims)
        })
    }

    /// Marks `done` every running run with no pending delivery left; returns their ids.
    pub async fn finish_runs(&self, now_ms: i64) -> anyhow::Result<Vec<i64>> {
        write_tx!(self, |tx| {
            let ids: Vec<i64> = sqlx::query_scalar(
                "UPDATE runs SET status = 'done', finished_at = $1
                 WHERE status = 'running' AND NOT EXISTS
                   (SELECT 1 FROM deliveries d WHERE d.run_id = runs.id AND d.status = 'pending')
                 RETURNING id",
            )
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await
            .context("finish runs")?;
            tx.commit().await.context("commit finished runs")?;
            Ok(ids)
        })
    }

    /// Deliveries still pending (the queue depth).
    pub async fn pending_deliveries(&self) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"
        )
        .fetch_one(p)
        .await
        .context("count pending deliveries"))
    }
}
