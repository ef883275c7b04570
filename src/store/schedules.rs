//! Schedules: created from config on first start; later edits belong to the admin API.

use anyhow::Context;

use super::{Store, read_pool, write_tx};
use crate::{config::ScheduleConfig, domain::TimeZone};

/// A schedule a subscriber may choose.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleChoice {
    pub slug: String,
    pub name: String,
}

impl Store {
    /// Inserts each configured schedule that does not exist yet (a deleted one stays deleted);
    /// a schedule without its own zone gets `site_tz`.
    #[tracing::instrument(skip_all)]
    pub async fn ensure_schedules(
        &self,
        schedules: &[ScheduleConfig],
        site_tz: TimeZone,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            for s in schedules {
                sqlx::query(
                    "INSERT INTO schedules (slug, name, cron, timezone, enabled, send_when_empty,
                        max_articles, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (slug) DO NOTHING",
                )
                .bind(&s.slug)
                .bind(&s.name)
                .bind(&s.cron)
                .bind(s.timezone.as_deref().unwrap_or(site_tz.name()))
                .bind(s.enabled)
                .bind(s.send_when_empty)
                .bind(i64::from(s.max_articles))
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("insert configured schedule")?;
            }
            tx.commit().await.context("commit schedules")?;
        });
        Ok(())
    }

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
