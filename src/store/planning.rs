//! Planning a run in chunks that commit as they go (migration 0216).
//!
//! A run is created on its own, in a short transaction, with status `planning` and a lease
//! held by its planner. Its deliveries are then planned [`PLAN_CHUNK`] subscribers at a time in
//! id order, each chunk in one short transaction that inserts them, moves the run's cursor past
//! them and renews the lease: the deliveries of a chunk are claimable as soon as it commits,
//! and no transaction holds the run (or the other processes' schedulers) for longer than a
//! chunk. The last chunk makes the run `running`, or `done` when it mails nobody.
//!
//! Fencing: a chunk reads the run's row locked and writes only while the run is still planning
//! under its planner's name. A planner that stopped (crash, SIGKILL, a stall past its lease)
//! leaves the run planning; once the lease has run out any process takes it over
//! ([`Store::take_over_planning`]) and goes on from the cursor, and the stalled planner's next
//! chunk finds another name on the run and writes nothing. Deliveries are unique per (run,
//! subscriber), so each subscriber the run mails ends with exactly one.

use std::time::Instant;

use anyhow::Context;

// `read_pool!` and `write_tx!` are in textual scope: this module is declared after them.
pub use super::planning_audience::Audience;
use super::{Backend, Store, planning_audience::bind_audience, statistics::Table};

/// Subscribers a chunk plans unless told otherwise (`digests.plan_chunk`): about a quarter of
/// a second of PostgreSQL's time, so a million subscribers make a hundred short transactions.
pub const PLAN_CHUNK: i64 = 10_000;

/// The planning lease of the store's own planning loop ([`Store::plan_to_end`]), as
/// `digests.lease_seconds` is by default: a crashed planner's run is resumed this long after.
pub const PLAN_LEASE_MS: i64 = 120_000;

/// Inserts a run to plan, `ON CONFLICT (schedule, fire_at) DO NOTHING`: `$1` schedule, `$2`
/// fire_at, `$3` now, `$4` cutoff, `$5` manual, `$6` planner, `$7` its lease's end, `$8` the
/// section of an announcement, `$9` the `since` of an instant run. Returns the id.
pub(super) const INSERT_PLANNING_RUN: &str = "INSERT INTO runs
       (schedule, fire_at, status, created_at, cutoff, manual, plan_owner, plan_until,
        plan_section, plan_since)
     VALUES ($1, $2, 'planning', $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (schedule, fire_at) DO NOTHING RETURNING id";

/// A planner's name and how long its hold on a run lasts unless renewed.
#[derive(Debug, Clone)]
pub struct PlanLease {
    pub owner: String,
    pub millis: i64,
}

impl PlanLease {
    /// A lease of `millis` under a fresh name.
    pub fn fresh(millis: i64) -> Self {
        Self {
            owner: format!("planner-{:016x}", rand::random::<u64>()),
            millis,
        }
    }
}

/// What one chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStep {
    /// Planned (and committed) this many deliveries; more subscribers may follow.
    Chunk { planned: u64 },
    /// The last chunk, with this many deliveries: the run is `running` now, or `done` when
    /// it mails nobody (`empty`).
    Finished { planned: u64, empty: bool },
    /// The run is not this planner's to plan (another took it over, or it is planned already):
    /// nothing was written.
    Lost,
}

#[derive(sqlx::FromRow)]
struct Planning {
    schedule: String,
    status: String,
    plan_owner: Option<String>,
    plan_cursor: Option<i64>,
    plan_section: Option<String>,
    plan_since: Option<i64>,
    cutoff: Option<i64>,
    created_at: i64,
}

impl Planning {
    fn audience(&self) -> Audience {
        match (&self.plan_section, self.plan_since) {
            (Some(section), _) => Audience::Section(section.clone()),
            (None, Some(since)) => Audience::Followers {
                schedule: self.schedule.clone(),
                since,
                until: self.cutoff.unwrap_or(self.created_at),
            },
            (None, None) => Audience::Schedule(self.schedule.clone()),
        }
    }
}

impl Store {
    /// Plans the next `chunk` subscribers of run `run` after its cursor, in one transaction,
    /// if `lease.owner` still holds its planning; renews the lease to `now_ms + lease.millis`.
    /// Their deliveries fall due at the run's creation, the place in the queue a run planned
    /// at once had.
    #[tracing::instrument(skip_all, fields(run, chunk))]
    pub async fn plan_chunk(
        &self,
        run: i64,
        lease: &PlanLease,
        now_ms: i64,
        chunk: i64,
    ) -> anyhow::Result<PlanStep> {
        let chunk = chunk.max(1);
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let read = format!(
            "SELECT schedule, status, plan_owner, plan_cursor, plan_section, plan_since, cutoff,
                    created_at
             FROM runs WHERE id = $1{lock}"
        );
        write_tx!(self, |tx| {
            // Locked: the fencing check holds until this chunk commits.
            let row: Option<Planning> = sqlx::query_as(&read)
                .bind(run)
                .fetch_optional(&mut *tx)
                .await
                .context("lock the run being planned")?;
            let Some(p) = row.filter(|p| {
                p.status == "planning" && p.plan_owner.as_deref() == Some(lease.owner.as_str())
            }) else {
                tx.commit().await.context("commit lost planning")?;
                return Ok(PlanStep::Lost);
            };
            let audience = p.audience();
            let after = p.plan_cursor.unwrap_or(i64::MIN);
            // The chunk's last subscriber: read from the index alone, so the insert below
            // takes a closed range whatever the filter.
            let bounds = format!(
                "SELECT COUNT(*), MAX(id) FROM (
                   SELECT s.id FROM subscribers s WHERE {} AND s.id > $1
                   ORDER BY s.id LIMIT $2) c",
                audience.filter(3)
            );
            let (found, last): (i64, Option<i64>) =
                bind_audience!(sqlx::query_as(&bounds).bind(after).bind(chunk), &audience)
                    .fetch_one(&mut *tx)
                    .await
                    .context("find the chunk's subscribers")?;
            let mut planned = 0;
            if let Some(last) = last {
                let insert = format!(
                    "INSERT INTO deliveries
                       (run_id, subscriber_id, status, attempts, next_attempt_at)
                     SELECT $1, s.id, 'pending', 0, $2 FROM subscribers s
                     WHERE {} AND s.id > $3 AND s.id <= $4
                     ON CONFLICT (run_id, subscriber_id) DO NOTHING",
                    audience.filter(5)
                );
                let q = sqlx::query(&insert)
                    .bind(run)
                    .bind(p.created_at)
                    .bind(after)
                    .bind(last);
                planned = bind_audience!(q, &audience)
                    .execute(&mut *tx)
                    .await
                    .context("plan a chunk of deliveries")?
                    .rows_affected();
            }
            let cursor = last.or(p.plan_cursor);
            let step = if found < chunk {
                // Nothing after this chunk: the run mails whom it planned, or nobody.
                let any: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM deliveries WHERE run_id = $1 LIMIT 1")
                        .bind(run)
                        .fetch_optional(&mut *tx)
                        .await
                        .context("does the run mail anyone")?;
                let empty = any.is_none();
                sqlx::query(
                    "UPDATE runs SET status = $2, planned_at = $3, finished_at = $4,
                        plan_cursor = $5, plan_owner = NULL, plan_until = NULL
                     WHERE id = $1",
                )
                .bind(run)
                .bind(if empty { "done" } else { "running" })
                .bind(now_ms)
                .bind(empty.then_some(now_ms))
                .bind(cursor)
                .execute(&mut *tx)
                .await
                .context("end the planning")?;
                PlanStep::Finished { planned, empty }
            } else {
                sqlx::query("UPDATE runs SET plan_cursor = $2, plan_until = $3 WHERE id = $1")
                    .bind(run)
                    .bind(cursor)
                    .bind(now_ms + lease.millis)
                    .execute(&mut *tx)
                    .await
                    .context("move the planning cursor")?;
                PlanStep::Chunk { planned }
            };
            tx.commit().await.context("commit a planned chunk")?;
            self.note_changes(Table::Deliveries, planned);
            Ok(step)
        })
    }

    /// Plans run `run` chunk after chunk until its end (or until the run is lost to another
    /// planner), renewing the lease from `now_ms` plus the time spent: the store's own loop,
    /// for callers without a clock. Returns the last step.
    pub async fn plan_to_end(
        &self,
        run: i64,
        lease: &PlanLease,
        now_ms: i64,
        chunk: i64,
    ) -> anyhow::Result<PlanStep> {
        let started = Instant::now();
        loop {
            let spent = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            match self
                .plan_chunk(run, lease, now_ms.saturating_add(spent), chunk)
                .await?
            {
                PlanStep::Chunk { .. } => {}
                last => return Ok(last),
            }
        }
    }

    /// Deliveries of `run` queued (planned and not sent, skipped or failed yet), from its
    /// counters: what a paced planner keeps ahead of the senders. 0 for an unknown run.
    pub async fn run_queued(&self, run: i64) -> anyhow::Result<i64> {
        let queued: Option<i64> = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT queued FROM run_figures WHERE run_id = $1"
        )
        .bind(run)
        .fetch_optional(p)
        .await
        .context("read a run's queue"))?;
        Ok(queued.unwrap_or(0))
    }

    /// Renews `lease` on `run` to `now_ms + lease.millis` while its planner waits for the
    /// senders; false when the run is not planning under that name any more.
    pub async fn renew_planning(
        &self,
        run: i64,
        lease: &PlanLease,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let renewed = sqlx::query(
                "UPDATE runs SET plan_until = $3
                 WHERE id = $1 AND status = 'planning' AND plan_owner = $2",
            )
            .bind(run)
            .bind(&lease.owner)
            .bind(now_ms + lease.millis)
            .execute(&mut *tx)
            .await
            .context("renew a planning lease")?
            .rows_affected();
            tx.commit()
                .await
                .context("commit a renewed planning lease")?;
            Ok(renewed == 1)
        })
    }

    /// Whether a run is planning under a lease that ran out before `now_ms` (a cheap read, so
    /// that looking every second costs no write).
    pub async fn planning_abandoned(&self, now_ms: i64) -> anyhow::Result<bool> {
        let found: Option<i64> = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT id FROM runs WHERE status = 'planning'
               AND (plan_until IS NULL OR plan_until < $1) LIMIT 1"
        )
        .bind(now_ms)
        .fetch_optional(p)
        .await
        .context("look for abandoned planning"))?;
        Ok(found.is_some())
    }

    /// Takes over the oldest run whose planning lease ran out before `now_ms`, for
    /// `lease.owner` until `now_ms + lease.millis`; its id. Two processes never take the same.
    pub async fn take_over_planning(
        &self,
        lease: &PlanLease,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        let skip = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE runs SET plan_owner = $1, plan_until = $3
             WHERE id = (SELECT id FROM runs WHERE status = 'planning'
                           AND (plan_until IS NULL OR plan_until < $2)
                         ORDER BY id LIMIT 1{skip})
             RETURNING id"
        );
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(&sql)
                .bind(&lease.owner)
                .bind(now_ms)
                .bind(now_ms + lease.millis)
                .fetch_optional(&mut *tx)
                .await
                .context("take over an abandoned planning")?;
            tx.commit().await.context("commit planning takeover")?;
            Ok(id)
        })
    }
}
