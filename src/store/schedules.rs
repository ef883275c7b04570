//! Schedules: created from config on first start, then edited through the admin API.

use super::{Store, read_pool, write_tx};
use crate::domain::{Schedule, ScheduleChoice, ScheduleFields};
use anyhow::Context;

const COLUMNS: &str =
    "slug, name, cron, timezone, enabled, send_when_empty, max_articles, created_at, checked_until";

/// Binds `$1`…`$8` of the schedule insert and update: slug, fields, then `now`.
macro_rules! bind_schedule {
    ($query:expr, $slug:expr, $f:expr, $now:expr) => {
        $query
            .bind($slug)
            .bind(&$f.name)
            .bind(&$f.cron)
            .bind(&$f.timezone)
            .bind($f.enabled)
            .bind($f.send_when_empty)
            .bind($f.max_articles)
            .bind($now)
    };
}

impl Store {
    /// Inserts each given `(slug, fields)` schedule that does not exist yet (deleted ones
    /// stay deleted).
    #[tracing::instrument(skip_all)]
    pub async fn ensure_schedules(
        &self,
        schedules: &[(String, ScheduleFields)],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            for (slug, s) in schedules {
                sqlx::query(
                    "INSERT INTO schedules (slug, name, cron, timezone, enabled, send_when_empty,
                        max_articles, created_at, updated_at, checked_until)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) ON CONFLICT (slug) DO NOTHING",
                )
                .bind(slug)
                .bind(&s.name)
                .bind(&s.cron)
                .bind(&s.timezone)
                .bind(s.enabled)
                .bind(s.send_when_empty)
                .bind(s.max_articles)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("insert configured schedule")?;
            }
            tx.commit().await.context("commit schedules")?;
        });
        Ok(())
    }

    /// Every schedule that is not deleted, by slug.
    pub async fn list_schedules(&self) -> anyhow::Result<Vec<Schedule>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules WHERE deleted_at IS NULL ORDER BY created_at, slug"
        );
        read_pool!(self, |p| sqlx::query_as::<_, Schedule>(&sql)
            .fetch_all(p)
            .await
            .context("list schedules"))
    }

    /// One schedule that is not deleted.
    pub async fn get_schedule(&self, slug: &str) -> anyhow::Result<Option<Schedule>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE slug = $1 AND deleted_at IS NULL");
        read_pool!(self, |p| sqlx::query_as::<_, Schedule>(&sql)
            .bind(slug)
            .fetch_optional(p)
            .await
            .context("get schedule"))
    }

    /// Creates or replaces a schedule; `true` when created. A replaced cron keeps the
    /// evaluation point, so no instant between the old and the new rule fires twice.
    #[tracing::instrument(skip_all, fields(slug))]
    pub async fn put_schedule(
        &self,
        slug: &str,
        f: &ScheduleFields,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let insert = sqlx::query(
                "INSERT INTO schedules (slug, name, cron, timezone, enabled, send_when_empty,
                    max_articles, created_at, updated_at, checked_until)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) ON CONFLICT (slug) DO NOTHING",
            );
            let inserted = bind_schedule!(insert, slug, f, now_ms)
                .execute(&mut *tx)
                .await
                .context("insert schedule")?
                .rows_affected()
                == 1;
            let mut created = inserted;
            if !inserted {
                let lock = match self.backend() {
                    super::Backend::Postgres => " FOR UPDATE",
                    super::Backend::Sqlite => "",
                };
                let deleted_at: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT deleted_at FROM schedules WHERE slug = $1{lock}"
                ))
                .bind(slug)
                .fetch_one(&mut *tx)
                .await
                .context("read schedule")?;
                // A deleted schedule brought back starts afresh from now.
                created = deleted_at.is_some();
                let update = sqlx::query(
                    "UPDATE schedules SET name = $2, cron = $3, timezone = $4, enabled = $5,
                        send_when_empty = $6, max_articles = $7, updated_at = $8,
                        checked_until = CASE WHEN deleted_at IS NULL THEN checked_until ELSE $8 END,
                        created_at = CASE WHEN deleted_at IS NULL THEN created_at ELSE $8 END,
                        deleted_at = NULL
                     WHERE slug = $1",
                );
                bind_schedule!(update, slug, f, now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("update schedule")?;
            }
            tx.commit().await.context("commit schedule")?;
            Ok(created)
        })
    }

    /// Soft-deletes a schedule; `false` when there was none.
    pub async fn delete_schedule(&self, slug: &str, now_ms: i64) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE schedules SET deleted_at = $2, enabled = $3 WHERE slug = $1 AND deleted_at IS NULL",
            )
            .bind(slug)
            .bind(now_ms)
            .bind(false)
            .execute(&mut *tx)
            .await
            .context("delete schedule")?
            .rows_affected();
            tx.commit().await.context("commit schedule deletion")?;
            Ok(n == 1)
        })
    }

    /// Moves a schedule's evaluation point forward (never back).
    pub async fn advance_schedule_check(&self, slug: &str, until_ms: i64) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "UPDATE schedules SET checked_until = $2
                 WHERE slug = $1 AND (checked_until IS NULL OR checked_until < $2)",
            )
            .bind(slug)
            .bind(until_ms)
            .execute(&mut *tx)
            .await
            .context("advance schedule check")?;
            tx.commit().await.context("commit schedule check")?;
        });
        Ok(())
    }
}

impl Store {
    /// A schedule even if deleted (runs it started still finish).
    pub async fn get_schedule_any(&self, slug: &str) -> anyhow::Result<Option<Schedule>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE slug = $1");
        read_pool!(self, |p| sqlx::query_as::<_, Schedule>(&sql)
            .bind(slug)
            .fetch_optional(p)
            .await
            .context("get schedule"))
    }
}

impl Store {
    /// Schedules open to subscribers (enabled, not deleted), by slug.
    pub async fn subscribable_schedules(&self) -> anyhow::Result<Vec<ScheduleChoice>> {
        read_pool!(self, |p| sqlx::query_as::<_, ScheduleChoice>(
            "SELECT slug, name FROM schedules
             WHERE deleted_at IS NULL AND enabled = $1 ORDER BY created_at, slug"
        )
        .bind(true)
        .fetch_all(p)
        .await
        .context("list subscribable schedules"))
    }
}
