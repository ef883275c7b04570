//! Runs as the admin API shows them, with delivery counts, and the deliveries of a run.
//!
//! A run's counts are an aggregate over its deliveries (a million rows for a big run). Once a
//! run is finished they no longer change, until a retry makes it run again (which clears its
//! `finished_at`), so each process remembers the counts of finished runs by (run id,
//! `finished_at`) and reads only the runs' own rows for them: the runs list and a finished
//! run's page cost the same at any size. A run still sending is counted on each read.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use anyhow::Context;

use super::{Store, read_pool};
use crate::{
    clock::from_ms,
    domain::{Delivery, DeliveryStatus, Run, RunFigure, RunStatus},
};

/// Finished runs' counts, by run id: ((`finished_at`, `revision`), counts). A late DSN that
/// bounces a delivery of a finished run bumps its `revision`.
pub(super) type FinishedFigures = Arc<Mutex<HashMap<i64, ((i64, i64), Figures)>>>;

/// How many finished runs a process remembers (the oldest are dropped first).
const REMEMBERED: usize = 10_000;

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    schedule: String,
    fire_at: Option<i64>,
    #[sqlx(try_from = "String")]
    status: RunStatus,
    created_at: i64,
    finished_at: Option<i64>,
    revision: i64,
}

#[derive(sqlx::FromRow, Clone, Copy, Default)]
pub(super) struct Figures {
    total: i64,
    sent: i64,
    skipped: i64,
    deferred: i64,
    failed: i64,
    bounced: i64,
    uncertain: i64,
    pending: i64,
}

fn run(r: RunRow, f: Figures) -> Run {
    Run {
        id: r.id,
        schedule: r.schedule,
        fire_at: r.fire_at.map(from_ms),
        status: r.status,
        total: f.total,
        sent: f.sent,
        skipped: f.skipped,
        deferred: f.deferred,
        failed: f.failed,
        bounced: f.bounced,
        uncertain: f.uncertain,
        pending: f.pending,
        created_at: from_ms(r.created_at),
        finished_at: r.finished_at.map(from_ms),
    }
}

/// Which deliveries a run figure counts, as SQL over `d` (deliveries). Each delivery is in
/// exactly one.
const PENDING: &str =
    "d.status = 'pending' AND d.uncertain = 0 AND d.attempts = 0 AND d.last_error IS NULL";
const DEFERRED: &str =
    "d.status = 'pending' AND d.uncertain = 0 AND (d.attempts > 0 OR d.last_error IS NOT NULL)";
const UNCERTAIN: &str = "(d.status = 'uncertain' OR (d.status = 'pending' AND d.uncertain > 0))";

const RUN_COLUMNS: &str =
    "SELECT id, schedule, fire_at, status, created_at, finished_at, revision FROM runs";

/// The counts of one run (`$1`) over its deliveries.
fn figures_sql() -> String {
    let count = |cond: &str, name: &str| {
        format!("COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS {name}")
    };
    format!(
        "SELECT COUNT(d.id) AS total, {}, {}, {}, {}, {}, {}, {}
         FROM deliveries d WHERE d.run_id = $1",
        count("d.status = 'sent'", "sent"),
        count("d.status = 'skipped'", "skipped"),
        count(DEFERRED, "deferred"),
        count("d.status = 'failed'", "failed"),
        count("d.status = 'bounced'", "bounced"),
        count(UNCERTAIN, "uncertain"),
        count(PENDING, "pending"),
    )
}

/// Which deliveries `figure` counts, as SQL over `d` (deliveries).
fn figure_sql(figure: RunFigure) -> &'static str {
    match figure {
        RunFigure::Pending => PENDING,
        RunFigure::Deferred => DEFERRED,
        RunFigure::Sent => "d.status = 'sent'",
        RunFigure::Skipped => "d.status = 'skipped'",
        RunFigure::Failed => "d.status = 'failed'",
        RunFigure::Bounced => "d.status = 'bounced'",
        RunFigure::Uncertain => UNCERTAIN,
    }
}
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    email: Option<String>,
    #[sqlx(try_from = "String")]
    status: DeliveryStatus,
    attempts: i64,
    uncertain: i64,
    last_error: Option<String>,
    dsn_status: Option<String>,
    last_attempt_at: Option<i64>,
    next_attempt_at: i64,
    sent_at: Option<i64>,
    message_id: Option<String>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        let waiting = r.status == DeliveryStatus::Pending;
        let status = match r.status {
            DeliveryStatus::Pending if r.uncertain > 0 => RunFigure::Uncertain,
            DeliveryStatus::Pending if r.attempts > 0 || r.last_error.is_some() => {
                RunFigure::Deferred
            }
            DeliveryStatus::Pending => RunFigure::Pending,
            DeliveryStatus::Sent => RunFigure::Sent,
            DeliveryStatus::Skipped => RunFigure::Skipped,
            DeliveryStatus::Failed => RunFigure::Failed,
            DeliveryStatus::Bounced => RunFigure::Bounced,
            DeliveryStatus::Uncertain => RunFigure::Uncertain,
        };
        Delivery {
            id: r.id,
            email: r.email,
            status,
            attempts: r.attempts,
            last_reply: r.last_error,
            dsn_status: r.dsn_status,
            last_attempt_at: r.last_attempt_at.map(from_ms),
            next_attempt_at: waiting.then(|| from_ms(r.next_attempt_at)),
            sent_at: r.sent_at.map(from_ms),
            message_id: r.message_id,
        }
    }
}

impl Store {
    /// One run with its counts.
    pub async fn get_run(&self, id: i64) -> anyhow::Result<Option<Run>> {
        let sql = format!("{RUN_COLUMNS} WHERE id = $1");
        let row: Option<RunRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .context("get run"))?;
        match row {
            Some(r) => Ok(Some(self.with_figures(r).await?)),
            None => Ok(None),
        }
    }

    /// Drops what this process remembers of `run`'s counts (a retry reopens it; another
    /// process sees the reopened run's cleared `finished_at`, and a new one when it ends).
    pub(super) fn forget_run_figures(&self, run: i64) {
        self.finished_figures
            .lock()
            .expect("figures lock")
            .remove(&run);
    }

    /// `r` with its counts: remembered when it is finished, else counted now.
    async fn with_figures(&self, r: RunRow) -> anyhow::Result<Run> {
        let finished = (r.finished_at)
            .filter(|_| r.status != RunStatus::Running)
            .map(|at| (at, r.revision));
        if let Some(at) = finished {
            let known = self
                .finished_figures
                .lock()
                .expect("figures lock")
                .get(&r.id)
                .copied();
            if let Some((known_at, figures)) = known
                && known_at == at
            {
                return Ok(run(r, figures));
            }
        }
        let sql = figures_sql();
        let figures: Figures = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(r.id)
            .fetch_one(p)
            .await
            .context("count a run's deliveries"))?;
        if let Some(at) = finished {
            let mut known = self.finished_figures.lock().expect("figures lock");
            if known.len() >= REMEMBERED
                && let Some(oldest) = known.keys().min().copied()
            {
                known.remove(&oldest);
            }
            known.insert(r.id, (at, figures));
        }
        Ok(run(r, figures))
    }

    /// Runs newest first, optionally of one schedule, before run id `before` (the cursor).
    pub async fn list_runs(
        &self,
        schedule: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<Run>> {
        let sql = format!(
            "{RUN_COLUMNS} WHERE ($1 = '' OR schedule = $1) AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<RunRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(schedule.unwrap_or(""))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(p)
            .await
            .context("list runs"))?;
        let mut runs = Vec::with_capacity(rows.len());
        for r in rows {
            runs.push(self.with_figures(r).await?);
        }
        Ok(runs)
    }

    /// Deliveries of `run` in id order after `after` (the cursor), optionally of one figure.
    pub async fn run_deliveries(
        &self,
        run: i64,
        filter: Option<RunFigure>,
        after: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT d.id, s.email, d.status, d.attempts, d.uncertain, d.last_error, d.dsn_status,
                    d.last_attempt_at, d.next_attempt_at, d.sent_at, d.message_id
             FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.run_id = $1 AND d.id > $2 AND {}
             ORDER BY d.id LIMIT $3",
            filter.map(figure_sql).unwrap_or("1 = 1")
        );
        let rows: Vec<DeliveryRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(run)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await
            .context("list deliveries of a run"))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
