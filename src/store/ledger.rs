//! The delivery ledger: one run per (schedule, fire instant), one delivery per (run,
//! subscriber), claimed with leases that the holder renews while it works.
//!
//! A delivery's life: `pending` (never tried, or deferred: waiting for a retry or for the
//! relay) → claimed (a lease) → an intent to send committed (`sending_at`) → an outcome:
//! `sent`, `skipped`, `failed` (gave up), `bounced`, `uncertain` (no answer after the final
//! "." twice), or back to `pending`. A lease that expires while `sending_at` is set means the
//! holder stopped in the middle of the SMTP transaction: the message may have arrived, so the
//! delivery is treated as uncertain (retried once, later), never re-sent at once.

use anyhow::Context;

use super::{PLAN_CHUNK, PLAN_LEASE_MS, PlanLease, Store, planning::INSERT_PLANNING_RUN, write_tx};

/// A delivery a worker holds the lease of.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub id: i64,
    pub run_id: i64,
    pub subscriber_id: i64,
    pub attempts: i64,
    /// When it fell due: with the id, its place in claim order.
    pub next_attempt_at: i64,
}

/// What happened to one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The SMTP server accepted the message. Recorded whoever holds the lease now: it is a
    /// fact, and recording it keeps anyone from sending the message again. `schedule`'s
    /// watermark moves to `cutoff` (none when empty: an announcement).
    Sent {
        claim: Claim,
        message_id: String,
        schedule: String,
        cutoff: i64,
    },
    /// Nothing new for this subscriber: nothing sent.
    Skipped {
        claim: Claim,
        schedule: String,
        cutoff: i64,
    },
    /// A temporary failure about this message: retry at `retry_at` unless attempts are used up.
    Transient {
        claim: Claim,
        error: String,
        retry_at: i64,
    },
    /// The server refused the recipient for good: the subscriber bounced.
    Permanent { claim: Claim, error: String },
    /// The message was written but its final "." got no answer: it may have arrived.
    Uncertain { claim: Claim, error: String },
    /// Not sent and no attempt spent (shutdown, the batch's time budget, a relay outage):
    /// back to the queue, at `retry_at` when set, with `error` as the reason when set.
    GiveBack {
        claim: Claim,
        error: Option<String>,
        retry_at: Option<i64>,
    },
}

impl Outcome {
    /// The delivery this outcome is about.
    pub fn claim(&self) -> &Claim {
        match self {
            Outcome::Sent { claim, .. }
            | Outcome::Skipped { claim, .. }
            | Outcome::Transient { claim, .. }
            | Outcome::Permanent { claim, .. }
            | Outcome::Uncertain { claim, .. }
            | Outcome::GiveBack { claim, .. } => claim,
        }
    }
}

/// How failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts (answers about the message) before a delivery is `failed`.
    pub max_attempts: i64,
    /// Delay before the one retry of an uncertain delivery; 0 = no retry.
    pub uncertain_retry_ms: i64,
}

impl RetryPolicy {
    /// Uncertain outcomes a delivery may have before it stays `uncertain`.
    pub fn uncertain_limit(&self) -> i64 {
        if self.uncertain_retry_ms > 0 { 2 } else { 1 }
    }
}

/// Counts of what a commit window recorded, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub sent: u64,
    pub skipped: u64,
    /// Transient failures that will be retried.
    pub retried: u64,
    /// Gave up: attempts used up (or an invalid message).
    pub failed: u64,
    pub bounced: u64,
    /// No answer after the final "." (retried once, or final).
    pub uncertain: u64,
    /// Given back without an attempt.
    pub returned: u64,
    /// Outcomes refused because the lease had passed to another worker.
    pub stale: u64,
}

/// A worker's request to send one claimed delivery now.
#[derive(Debug, Clone)]
pub struct Intent {
    pub delivery: i64,
    pub owner: String,
}

/// The ledger's answer to an [`Intent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentAnswer {
    /// Still held and the subscriber still active: the intent is recorded, send it.
    Go,
    /// The lease passed to another worker (or the delivery is already final): do not send.
    Lost,
    /// The subscriber unsubscribed, bounced or was erased since the claim: recorded as
    /// skipped, do not send.
    Inactive,
}

/// An outcome and the worker that reports it.
#[derive(Debug, Clone)]
pub struct Reported {
    pub owner: String,
    pub outcome: Outcome,
}

/// What a commit window did.
#[derive(Debug, Default)]
pub struct Window {
    /// One answer per intent, in order.
    pub answers: Vec<IntentAnswer>,
    /// One flag per outcome, in order: applied (false: the lease had passed on).
    pub applied: Vec<bool>,
    pub recorded: Recorded,
}

/// A claim, and the deliveries found orphaned (their holder stopped mid-transaction).
#[derive(Debug, Default)]
pub struct Claimed {
    pub claims: Vec<Claim>,
    /// `(delivery, run)` of deliveries whose holder stopped after committing its intent to
    /// send: now uncertain.
    pub orphans: Vec<(i64, i64)>,
}

/// Why an orphaned delivery became uncertain.
pub const ORPHAN_ERROR: &str =
    "the sending process stopped during the SMTP transaction; the message may have arrived";

impl Store {
    /// Creates the run for `(schedule, fire_at)` and plans a pending delivery for every active
    /// subscriber of the schedule, a chunk at a time (see `planning`), before it returns.
    /// `None` when that run already exists (another process got there first). `fire_at =
    /// None` is a manual run.
    #[tracing::instrument(skip_all, fields(schedule, fire_at))]
    pub async fn plan_run(
        &self,
        schedule: &str,
        fire_at: Option<i64>,
        cutoff: i64,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        let lease = PlanLease::fresh(PLAN_LEASE_MS);
        let Some(id) = self
            .start_run(schedule, fire_at, cutoff, now_ms, &lease)
            .await?
        else {
            return Ok(None);
        };
        self.plan_to_end(id, &lease, now_ms, PLAN_CHUNK).await?;
        Ok(Some(id))
    }

    /// Creates the run for `(schedule, fire_at)` with nothing planned yet, its planning held
    /// by `lease` from `now_ms`: a short transaction of its own, so that a process that fires
    /// the same instant finds the run at once (and leaves it alone) instead of waiting for the
    /// whole plan. `None` when that run already exists. Its deliveries come from
    /// [`Store::plan_chunk`].
    #[tracing::instrument(skip_all, fields(schedule, fire_at))]
    pub async fn start_run(
        &self,
        schedule: &str,
        fire_at: Option<i64>,
        cutoff: i64,
        now_ms: i64,
        lease: &PlanLease,
    ) -> anyhow::Result<Option<i64>> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(INSERT_PLANNING_RUN)
                .bind(schedule)
                .bind(fire_at)
                .bind(now_ms)
                .bind(cutoff)
                .bind(fire_at.is_none())
                .bind(&lease.owner)
                .bind(now_ms + lease.millis)
                .bind(None::<String>)
                .bind(None::<i64>)
                .fetch_optional(&mut *tx)
                .await
                .context("insert run")?;
            tx.commit().await.context("commit new run")?;
            Ok(id)
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
}
