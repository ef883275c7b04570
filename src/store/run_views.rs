//! Runs as the admin API shows them, with delivery counts.

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
    /// `running`, `done` or `missed`.
    pub status: String,
    pub total: i64,
    pub sent: i64,
    pub skipped: i64,
    pub failed: i64,
    pub pending: i64,
    pub created_at: String,
    pub finished_at: Option<String>,
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
    failed: i64,
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
            failed: r.failed,
            pending: r.pending,
            created_at: rfc3339(r.created_at),
            finished_at: r.finished_at.map(rfc3339),
        }
    }
}

const SELECT: &str = "SELECT r.id, r.schedule, r.fire_at, r.status, r.created_at, r.finished_at,
    COUNT(d.id) AS total,
    COALESCE(SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END), 0) AS sent,
    COALESCE(SUM(CASE WHEN d.status = 'skipped' THEN 1 ELSE 0 END), 0) AS skipped,
    COALESCE(SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed,
    COALESCE(SUM(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END), 0) AS pending
    FROM runs r LEFT JOIN deliveries d ON d.run_id = r.id";

const GROUP: &str = " GROUP BY r.id, r.schedule, r.fire_at, r.status, r.created_at, r.finished_at";

impl Store {
    /// One run with its counts.
    pub async fn get_run(&self, id: i64) -> anyhow::Result<Option<RunView>> {
        let sql = format!("{SELECT} WHERE r.id = $1{GROUP}");
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
            "{SELECT} WHERE ($1 = '' OR r.schedule = $1) AND r.id < $2{GROUP} ORDER BY r.id DESC LIMIT $3"
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
}
