//! Subscribing again by the token of one's own unsubscribe link: the subscription comes back
//! as it was (sections, schedule, language), for people who left by choice only.

use anyhow::Context;

use super::{Store, read_pool, write_tx};

/// Who may come back this way: unsubscribed in this generation, and not suppressed (a hard
/// bounce or a spam complaint must be undone by a confirmed mail, not by a click).
const ELIGIBLE: &str = "id = $1 AND generation = $2 AND status = 'unsubscribed'
    AND suppressed_at IS NULL";

impl Store {
    /// Whether the subscriber of `generation` may subscribe again by their token.
    pub async fn can_resubscribe(
        &self,
        subscriber_id: i64,
        generation: i64,
    ) -> anyhow::Result<bool> {
        let found: Option<i64> = read_pool!(self, |p| sqlx::query_scalar(&format!(
            "SELECT id FROM subscribers WHERE {ELIGIBLE}"
        ))
        .bind(subscriber_id)
        .bind(generation)
        .fetch_optional(p)
        .await
        .context("check resubscribe"))?;
        Ok(found.is_some())
    }

    /// Makes an eligible subscriber active again with the choices they had; `false` when not
    /// eligible (already back, suppressed, or the token is of an earlier subscription).
    ///
    /// They come back as a new subscriber would: confirmed at `now_ms`, with no watermark, so
    /// their next mail holds the `first_digest_articles` latest articles and what is new from
    /// now on, not everything published while they were away.
    #[tracing::instrument(skip_all, fields(subscriber_id))]
    pub async fn resubscribe(
        &self,
        subscriber_id: i64,
        generation: i64,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let back = sqlx::query(&format!(
                "UPDATE subscribers SET status = 'active', confirmed_at = $3 WHERE {ELIGIBLE}"
            ))
            .bind(subscriber_id)
            .bind(generation)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("resubscribe")?
            .rows_affected()
                == 1;
            if back {
                // A sign-up through the form waiting for its mail asked for what this click
                // just gave; its mail would only say "already subscribed".
                sqlx::query("DELETE FROM deferred_signups WHERE subscriber_id = $1")
                    .bind(subscriber_id)
                    .execute(&mut *tx)
                    .await
                    .context("drop deferred sign-up")?;
                sqlx::query("DELETE FROM watermarks WHERE subscriber_id = $1")
                    .bind(subscriber_id)
                    .execute(&mut *tx)
                    .await
                    .context("forget watermarks")?;
            }
            tx.commit().await.context("commit resubscribe")?;
            Ok(back)
        })
    }
}
