//! The one stored authority and date of feeds' `tag:` ids (migration 0160): read by every
//! process, written once, by whichever process starts first.

use anyhow::Context;

use super::Store;

/// The `feed_identity` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredFeedIdentity {
    /// `None` only on a `legacy` row its first start has not filled yet.
    pub authority: Option<String>,
    /// RFC 4151 date: `2026` on legacy rows, `YYYY-MM-DD` of the first start on others.
    pub tag_date: String,
    /// The database served ids (derived from `site.base_url`) before the row existed.
    pub legacy: bool,
}

const SELECT: &str = "SELECT authority, tag_date, legacy FROM feed_identity WHERE id = 1";

impl Store {
    /// The stored identity, if any process fixed one (or the migration marked a legacy one).
    pub async fn feed_identity(&self) -> anyhow::Result<Option<StoredFeedIdentity>> {
        read_pool!(self, |p| sqlx::query_as(SELECT)
            .fetch_optional(p)
            .await
            .context("read the feed identity"))
    }

    /// Fixes the identity unless one is: a new row of `authority` and `tag_date`, or, on a
    /// legacy row, `legacy_authority` (its date stays). Returns what is stored afterwards:
    /// when processes race, every one of them gets the winner's.
    pub async fn fix_feed_identity(
        &self,
        authority: &str,
        legacy_authority: &str,
        tag_date: &str,
        now_ms: i64,
    ) -> anyhow::Result<StoredFeedIdentity> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO feed_identity (id, authority, tag_date, legacy, fixed_at)
                 VALUES (1, $1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET authority = $5, fixed_at = $4
                 WHERE feed_identity.authority IS NULL",
            )
            .bind(authority)
            .bind(tag_date)
            .bind(false)
            .bind(now_ms)
            .bind(legacy_authority)
            .execute(&mut *tx)
            .await
            .context("fix the feed identity")?;
            let stored = sqlx::query_as(SELECT)
                .fetch_one(&mut *tx)
                .await
                .context("read the fixed feed identity")?;
            tx.commit().await.context("commit the feed identity")?;
            Ok(stored)
        })
    }

    /// Replaces a non-legacy identity as long as no article was ever stored (no id has been
    /// served yet); returns whether it did.
    pub async fn refix_unused_feed_identity(
        &self,
        authority: &str,
        tag_date: &str,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE feed_identity SET authority = $1, tag_date = $2, fixed_at = $3
                 WHERE id = 1 AND NOT legacy AND NOT EXISTS (SELECT 1 FROM articles)",
            )
            .bind(authority)
            .bind(tag_date)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("replace the unused feed identity")?;
            tx.commit().await.context("commit the feed identity")?;
            Ok(done.rows_affected() == 1)
        })
    }
}
