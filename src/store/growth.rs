//! The dashboard's growth chart: subscriber events (sign-ups, confirmations, unsubscriptions,
//! bounces) counted per time bucket since an instant, in one grouped query over indexed
//! timestamps (migration 0130), whatever the number of subscribers.

use anyhow::Context;

use super::Store;

/// Subscriber events of one time bucket since the chart's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrowthBucket {
    /// `floor((t - since) / bucket)`.
    pub bucket: i64,
    /// Sign-ups (rows created), confirmed or not.
    pub created: i64,
    /// Confirmations (the subscriber's latest).
    pub confirmed: i64,
    /// Unsubscriptions of people unsubscribed now.
    pub unsubscribed: i64,
    /// Bounces of people suppressed now.
    pub bounced: i64,
}

impl Store {
    /// Subscriber events at or after `since_ms`, counted per `bucket_ms`, buckets in order
    /// (only those with events). An unsubscription or bounce counts only while it is the
    /// subscriber's status (a re-subscribed person's old unsubscription is history).
    #[tracing::instrument(skip_all)]
    pub async fn subscriber_growth(
        &self,
        since_ms: i64,
        bucket_ms: i64,
    ) -> anyhow::Result<Vec<GrowthBucket>> {
        let rows: Vec<(String, i64, i64)> = read_pool!(self, |p| sqlx::query_as(
            "SELECT 'c' AS k, (created_at - $1) / $2 AS b, COUNT(*) AS n FROM subscribers
                 WHERE created_at >= $1 GROUP BY b
             UNION ALL
             SELECT 'a' AS k, (confirmed_at - $1) / $2 AS b, COUNT(*) AS n FROM subscribers
                 WHERE confirmed_at >= $1 GROUP BY b
             UNION ALL
             SELECT 'u' AS k, (unsubscribed_at - $1) / $2 AS b, COUNT(*) AS n FROM subscribers
                 WHERE status = 'unsubscribed' AND unsubscribed_at >= $1 GROUP BY b
             UNION ALL
             SELECT 'x' AS k, (bounced_at - $1) / $2 AS b, COUNT(*) AS n FROM subscribers
                 WHERE status = 'bounced' AND bounced_at >= $1 GROUP BY b"
        )
        .bind(since_ms)
        .bind(bucket_ms.max(1))
        .fetch_all(p)
        .await
        .context("count subscriber events per bucket"))?;
        let mut out: std::collections::BTreeMap<i64, GrowthBucket> = Default::default();
        for (kind, bucket, n) in rows {
            let b = out.entry(bucket).or_insert(GrowthBucket {
                bucket,
                ..GrowthBucket::default()
            });
            match kind.as_str() {
                "c" => b.created += n,
                "a" => b.confirmed += n,
                "u" => b.unsubscribed += n,
                _ => b.bounced += n,
            }
        }
        Ok(out.into_values().collect())
    }
}
