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

/// How long the buckets before today are reused: they change only when someone is erased or
/// re-subscribes, and reading them is the dashboard's dearest query.
const HISTORY_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// The growth chart's buckets before today, read at most every ten minutes by this process
/// (today's are read on each call).
#[derive(Default)]
pub struct GrowthHistory(std::sync::Mutex<Option<Kept>>);

struct Kept {
    /// Window start and today's start (ms).
    key: (i64, i64),
    at: std::time::Instant,
    buckets: Vec<GrowthBucket>,
}

impl GrowthHistory {
    /// [`Store::subscriber_growth`] since `since_ms`, the buckets before `today_ms` (a whole
    /// number of buckets after `since_ms`) taken from the copy when it is recent.
    pub async fn buckets(
        &self,
        store: &Store,
        since_ms: i64,
        today_ms: i64,
        bucket_ms: i64,
    ) -> anyhow::Result<Vec<GrowthBucket>> {
        let first_today = (today_ms - since_ms) / bucket_ms.max(1);
        let kept = {
            let k = self.0.lock().expect("history lock");
            k.as_ref()
                .filter(|k| k.key == (since_ms, today_ms) && k.at.elapsed() < HISTORY_FOR)
                .map(|k| k.buckets.clone())
        };
        if let Some(mut before) = kept {
            let fresh = store.subscriber_growth(today_ms, bucket_ms).await?;
            before.extend(fresh.into_iter().map(|b| GrowthBucket {
                bucket: b.bucket + first_today,
                ..b
            }));
            return Ok(before);
        }
        let all = store.subscriber_growth(since_ms, bucket_ms).await?;
        *self.0.lock().expect("history lock") = Some(Kept {
            key: (since_ms, today_ms),
            at: std::time::Instant::now(),
            buckets: all
                .iter()
                .filter(|b| b.bucket < first_today)
                .copied()
                .collect(),
        });
        Ok(all)
    }
}
