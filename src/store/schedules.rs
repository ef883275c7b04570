//! Schedules: created from config on first start, then edited through the admin API.

use super::{Store, read_pool, write_tx};
use crate::domain::{Schedule, ScheduleChoice, ScheduleFields};
use anyhow::Context;

const COLUMNS: &str = "slug, name, cron, timezone, enabled, send_when_empty, max_articles, kind,
    window_seconds, first_digest_articles, created_at, checked_until";

/// The schedule insert: `$1`…`$11` as [`bind_schedule`] binds them.
const INSERT: &str = "INSERT INTO schedules (slug, name, cron, timezone, enabled, send_when_empty,
        max_articles, created_at, updated_at, checked_until, kind, window_seconds,
        first_digest_articles)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, $10, $11) ON CONFLICT (slug) DO NOTHING";

/// Binds `$1`…`$11` of the schedule insert and update: slug, fields, `now`, then the kind's.
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
            .bind($f.kind.as_str())
            .bind($f.window.map(|w| w.seconds()))
            .bind($f.first_digest_articles)
    };
}

/// Replaces the stored per-locale names of `$slug` by `$names` (a map) inside `$tx`.
macro_rules! replace_texts {
    ($tx:expr, $slug:expr, $names:expr) => {{
        sqlx::query("DELETE FROM schedule_texts WHERE slug = $1")
            .bind($slug)
            .execute(&mut *$tx)
            .await
            .context("clear schedule names")?;
        for (locale, name) in $names.iter().filter(|(_, n)| !n.trim().is_empty()) {
            sqlx::query("INSERT INTO schedule_texts (slug, locale, name) VALUES ($1, $2, $3)")
                .bind($slug)
                .bind(locale)
                .bind(name.trim())
                .execute(&mut *$tx)
                .await
                .context("store schedule name")?;
        }
    }};
}

impl Store {
    /// Inserts each given `(slug, fields)` schedule that does not exist yet, with its names
    /// in other locales (deleted ones stay deleted).
    #[tracing::instrument(skip_all)]
    pub async fn ensure_schedules(
        &self,
        schedules: &[(String, ScheduleFields)],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            for (slug, s) in schedules {
                let created = bind_schedule!(sqlx::query(INSERT), slug, s, now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("insert configured schedule")?
                    .rows_affected()
                    == 1;
                if created && let Some(names) = &s.names {
                    replace_texts!(tx, slug, names);
                }
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
            let inserted = bind_schedule!(sqlx::query(INSERT), slug, f, now_ms)
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
                let (deleted_at, kind): (Option<i64>, String) = sqlx::query_as(&format!(
                    "SELECT deleted_at, kind FROM schedules WHERE slug = $1{lock}"
                ))
                .bind(slug)
                .fetch_one(&mut *tx)
                .await
                .context("read schedule")?;
                // A deleted schedule brought back starts afresh from now, and so does one
                // whose kind changed (its evaluation point meant something else).
                created = deleted_at.is_some();
                let afresh = created || kind != f.kind.as_str();
                let update = sqlx::query(
                    "UPDATE schedules SET name = $2, cron = $3, timezone = $4, enabled = $5,
                        send_when_empty = $6, max_articles = $7, updated_at = $8, kind = $9,
                        window_seconds = $10, first_digest_articles = $11,
                        checked_until = CASE WHEN $12 THEN $8 ELSE checked_until END,
                        created_at = CASE WHEN deleted_at IS NULL THEN created_at ELSE $8 END,
                        deleted_at = NULL
                     WHERE slug = $1",
                );
                bind_schedule!(update, slug, f, now_ms)
                    .bind(afresh)
                    .execute(&mut *tx)
                    .await
                    .context("update schedule")?;
            }
            // Without `names`, the other locales keep theirs; a schedule made afresh has none.
            match &f.names {
                Some(names) => replace_texts!(tx, slug, names),
                None if created => replace_texts!(
                    tx,
                    slug,
                    std::collections::BTreeMap::<String, String>::new()
                ),
                None => {}
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
            "SELECT slug, name, cron, timezone,
                    CASE WHEN kind = 'instant' THEN window_seconds END AS window_seconds
             FROM schedules
             WHERE deleted_at IS NULL AND enabled = $1 ORDER BY created_at, slug"
        )
        .bind(true)
        .fetch_all(p)
        .await
        .context("list subscribable schedules"))
    }
}
