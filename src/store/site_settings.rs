//! Site settings edited in the console (branding): one row per key that differs from the
//! config default, shared by every process of the database.

use anyhow::Context;

use super::{Store, audit::insert_audit};
use crate::domain::Audit;

impl Store {
    /// Every stored setting, `(key, value)`, by key.
    pub async fn site_settings(&self) -> anyhow::Result<Vec<(String, String)>> {
        read_pool!(self, |p| sqlx::query_as(
            "SELECT key, value FROM site_settings ORDER BY key"
        )
        .fetch_all(p)
        .await
        .context("read site settings"))
    }

    /// Writes `changes` (`None` removes the key: back to the config default) and records
    /// `audit` in the same transaction.
    #[tracing::instrument(skip_all)]
    pub async fn save_site_settings(
        &self,
        changes: &[(String, Option<String>)],
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            for (key, value) in changes {
                match value {
                    Some(v) => sqlx::query(
                        "INSERT INTO site_settings (key, value, updated_at) VALUES ($1, $2, $3)
                         ON CONFLICT (key) DO UPDATE SET value = $2, updated_at = $3",
                    )
                    .bind(key)
                    .bind(v)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("write site setting")?,
                    None => sqlx::query("DELETE FROM site_settings WHERE key = $1")
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .context("remove site setting")?,
                };
            }
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit site settings")?;
        });
        Ok(())
    }
}
