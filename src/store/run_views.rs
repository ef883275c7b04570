//! Runs as the admin API shows them, with delivery counts, and the deliveries of a run.

use anyhow::Context;
use chrono::SecondsFormat;
use serde::Serialize;

use super::{Store, read_pool};
use crate::clock::from_ms;

/// SPEC §7 run object.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: i64,
    pub schedule: String,
    /// The cron instant (RFC 3339); null for a manual run.
    pub fire_at: Option<String>,
    /// `running`, `done`, `done_with_failures` or `missed`.
    pub status: String,
    pub total: i64,
    pub sent: i64,
    pub skipped: i64,
    /// Waiting for a retry or for the relay.
    pub deferred: i64,
    /// Gave up: attempts used up.
    pub failed: i64,
    pub bounced: i64,
    /// No answer after the final "." (waiting for its one retry, or final).
    pub uncertain: i64,
    /// Not tried yet.
    pub pending: i64,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl RunView {
    /// No delivery of the run is left to do.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            "done" | "done_with_failures" | "missed"
        )
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    schedule: String,
    fire_at: Option<i64>,
    status: String,
    created_at: i64,
    finished_at: Option<i64>,
    total: i64,
    sent: i64,
    skipped: i64,
    deferred: i64,
    failed: i64,
    bounced: i64,
    uncertain: i64,
    pending: i64,
}

fn rfc3339(ms: i64) -> String {
    from_ms(ms).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl From<Row> for RunView {
    fn from(r: Row) -> Self {
        RunView {
            id: r.id,
            schedule: r.schedule,
            fire_at: r.fire_at.map(rfc3339),
            status: r.status,
            total: r.total,
            sent: r.sent,
            skipped: r.skipped,
            deferred: r.deferred,
            failed: r.failed,
            bounced: r.bounced,
            uncertain: r.uncertain,
            pending: r.pending,
            created_at: rfc3339(r.created_at),
            finished_at: r.finished_at.map(rfc3339),
        }
    }
}

/// Which deliveries a run figure counts, as SQL over `d` (deliveries). Each delivery is in
/// exactly one.
const PENDING: &str =
    "d.status = 'pending' AND d.uncertain = 0 AND d.attempts = 0 AND d.last_error IS NULL";
const DEFERRED: &str =
    "d.status = 'pending' AND d.uncertain = 0 AND (d.attempts > 0 OR d.last_error IS NOT NULL)";
const UNCERTAIN: &str = "(d.status = 'uncertain' OR (d.status = 'pending' AND d.uncertain > 0))";

fn select() -> String {
    let count = |cond: &str, name: &str| {
        format!("COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS {name}")
    };
    format!(
        "SELECT r.id, r.schedule, r.fire_at, r.status, r.created_at, r.finished_at,
         COUNT(d.id) AS total, {}, {}, {}, {}, {}, {}, {}
         FROM runs r LEFT JOIN deliveries d ON d.run_id = r.id",
        count("d.status = 'sent'", "sent"),
        count("d.status = 'skipped'", "skipped"),
        count(DEFERRED, "deferred"),
        count("d.status = 'failed'", "failed"),
        count("d.status = 'bounced'", "bounced"),
        count(UNCERTAIN, "uncertain"),
        count(PENDING, "pending"),
    )
}

const GROUP: &str = " GROUP BY r.id, r.schedule, r.fire_at, r.status, r.created_at, r.finished_at";

/// A run figure, as a filter of `GET /api/v1/runs/{id}/deliveries?status=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFilter {
    Pending,
    Deferred,
    Sent,
    Skipped,
    Failed,
    Bounced,
    Uncertain,
}

impl DeliveryFilter {
    pub const NAMES: &[&str] = &[
        "pending",
        "deferred",
        "sent",
        "skipped",
        "failed",
        "bounced",
        "uncertain",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "deferred" => Self::Deferred,
            "sent" => Self::Sent,
            "skipped" => Self::Skipped,
            "failed" => Self::Failed,
            "bounced" => Self::Bounced,
            "uncertain" => Self::Uncertain,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Self::Pending => PENDING,
            Self::Deferred => DEFERRED,
            Self::Sent => "d.status = 'sent'",
            Self::Skipped => "d.status = 'skipped'",
            Self::Failed => "d.status = 'failed'",
            Self::Bounced => "d.status = 'bounced'",
            Self::Uncertain => UNCERTAIN,
        }
    }
}

/// One delivery of a run, for the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: i64,
    /// Null once the subscriber was erased.
    pub email: Option<String>,
    /// The run figure this delivery counts in (`pending`, `deferred`, `sent`, …).
    pub status: String,
    pub attempts: i64,
    /// The last SMTP reply or failure, verbatim.
    pub last_reply: Option<String>,
    pub last_attempt_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
    pub message_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    email: Option<String>,
    status: String,
    attempts: i64,
    uncertain: i64,
    last_error: Option<String>,
    last_attempt_at: Option<i64>,
    next_attempt_at: i64,
    sent_at: Option<i64>,
    message_id: Option<String>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(r: DeliveryRow) -> Self {
        let waiting = r.status == "pending";
        let status = match r.status.as_str() {
            "pending" if r.uncertain > 0 => "uncertain".to_owned(),
            "pending" if r.attempts > 0 || r.last_error.is_some() => "deferred".to_owned(),
            s => s.to_owned(),
        };
        DeliveryView {
            id: r.id,
            email: r.email,
            status,
            attempts: r.attempts,
            last_reply: r.last_error,
            last_attempt_at: r.last_attempt_at.map(rfc3339),
            next_attempt_at: waiting.then(|| rfc3339(r.next_attempt_at)),
            sent_at: r.sent_at.map(rfc3339),
            message_id: r.message_id,
        }
    }
}

impl Store {
    /// One run with its counts.
    pub async fn get_run(&self, id: i64) -> anyhow::Result<Option<RunView>> {
        let sql = format!("{} WHERE r.id = $1{GROUP}", select());
        let row: Option<Row> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .context("get run"))?;
        Ok(row.map(Into::into))
    }

    /// Runs newest first, optionally of one schedule, before run id `before` (the cursor).
    pub async fn list_runs(
        &self,
        schedule: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<RunView>> {
        let sql = format!(
            "{} WHERE ($1 = '' OR r.schedule = $1) AND r.id < $2{GROUP} ORDER BY r.id DESC LIMIT $3",
            select()
        );
        let rows: Vec<Row> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(schedule.unwrap_or(""))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(p)
            .await
            .context("list runs"))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deliveries of `run` in id order after `after` (the cursor), optionally of one figure.
    pub async fn run_deliveries(
        &self,
        run: i64,
        filter: Option<DeliveryFilter>,
        after: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<DeliveryView>> {
        let sql = format!(
            "SELECT d.id, s.email, d.status, d.attempts, d.uncertain, d.last_error,
                    d.last_attempt_at, d.next_attempt_at, d.sent_at, d.message_id
             FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.run_id = $1 AND d.id > $2 AND {}
             ORDER BY d.id LIMIT $3",
            filter.map(DeliveryFilter::sql).unwrap_or("1 = 1")
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
