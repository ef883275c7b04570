//! Runs as the admin API shows them, with their figures, and the deliveries of a run.
//!
//! A run's figures are counters that the triggers of migration 0211 keep with every change of
//! its deliveries (the `run_figures` view adds the deltas not folded in yet), so the runs list
//! and a run's page cost the same at any size, sending or finished; nothing counts deliveries
//! on a read. A run whose deliveries are still being planned (stored `planning`) shows as
//! `running` with `planning` set, its total growing chunk by chunk.

use anyhow::Context;

use super::{Store, read_pool};
use crate::{
    clock::from_ms,
    domain::{Delivery, DeliveryStatus, Run, RunFigure, RunStatus},
};

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    schedule: String,
    fire_at: Option<i64>,
    /// As stored: `planning` is shown as `running` (SPEC §7 knows no other).
    status: String,
    created_at: i64,
    finished_at: Option<i64>,
    #[sqlx(flatten)]
    figures: Figures,
}

#[derive(sqlx::FromRow, Clone, Copy, Default)]
struct Figures {
    total: i64,
    sent: i64,
    skipped: i64,
    deferred: i64,
    failed: i64,
    bounced: i64,
    uncertain: i64,
    pending: i64,
}

fn run(r: RunRow) -> anyhow::Result<Run> {
    let f = r.figures;
    let planning = r.status == "planning";
    let status = if planning {
        RunStatus::Running
    } else {
        RunStatus::parse(&r.status)?
    };
    Ok(Run {
        id: r.id,
        schedule: r.schedule,
        fire_at: r.fire_at.map(from_ms),
        status,
        planning,
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
    })
}

/// Which deliveries a run figure counts, as SQL over `d` (deliveries), for the deliveries
/// list; each delivery is in exactly one (as `delivery_figure` of migration 0211 says).
const PENDING: &str =
    "d.status = 'pending' AND d.uncertain = 0 AND d.attempts = 0 AND d.last_error IS NULL";
const DEFERRED: &str =
    "d.status = 'pending' AND d.uncertain = 0 AND (d.attempts > 0 OR d.last_error IS NOT NULL)";
const UNCERTAIN: &str = "(d.status = 'uncertain' OR (d.status = 'pending' AND d.uncertain > 0))";

/// Runs with their figures (`r`, `f`).
const RUN_COLUMNS: &str = "SELECT r.id, r.schedule, r.fire_at, r.status, r.created_at,
        r.finished_at, f.total, f.sent, f.skipped, f.deferred, f.failed, f.bounced,
        f.uncertain, f.pending
     FROM runs r JOIN run_figures f ON f.run_id = r.id";

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
    /// One run with its figures.
    pub async fn get_run(&self, id: i64) -> anyhow::Result<Option<Run>> {
        let sql = format!("{RUN_COLUMNS} WHERE r.id = $1");
        let row: Option<RunRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .context("get run"))?;
        row.map(run).transpose()
    }

    /// Runs newest first, optionally of one schedule, before run id `before` (the cursor).
    pub async fn list_runs(
        &self,
        schedule: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<Run>> {
        let sql = format!(
            "{RUN_COLUMNS} WHERE ($1 = '' OR r.schedule = $1) AND r.id < $2
             ORDER BY r.id DESC LIMIT $3"
        );
        let rows: Vec<RunRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(schedule.unwrap_or(""))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(p)
            .await
            .context("list runs"))?;
        rows.into_iter().map(run).collect()
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
