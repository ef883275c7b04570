//! Reading what came back (SPEC §10) for people: a subscriber's suppression and received
//! mail, the console's list of received mail, kept messages.

use anyhow::Context;

use super::{Store, read_pool};

/// A subscriber's suppression, for their record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Suppression {
    pub at: i64,
    /// `hard_bounce`, `soft_bounces` or `complaint`.
    pub reason: String,
    pub detail: Option<String>,
}

/// A received message about one subscriber, for their record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InboundRecord {
    pub received_at: i64,
    pub kind: String,
    pub delivery_id: Option<i64>,
    /// The run of that delivery.
    pub run_id: Option<i64>,
    pub status: Option<String>,
    pub detail: Option<String>,
}

/// Counts of received messages by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundCounts {
    pub by_kind: Vec<(String, i64)>,
}

/// A received message as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InboundListed {
    pub id: i64,
    pub received_at: i64,
    pub via: String,
    pub kind: String,
    pub subscriber_id: Option<i64>,
    pub email: Option<String>,
    pub run_id: Option<i64>,
    pub status: Option<String>,
    pub detail: Option<String>,
    /// The message itself is kept (unrecognised or forged).
    pub kept: bool,
}

impl Store {
    /// Why and when a subscriber was suppressed, if they are.
    pub async fn suppression(&self, subscriber_id: i64) -> anyhow::Result<Option<Suppression>> {
        let row: Option<(Option<i64>, Option<String>, Option<String>)> = read_pool!(self, |p| {
            sqlx::query_as(
                "SELECT suppressed_at, suppressed_reason, suppressed_detail
                 FROM subscribers WHERE id = $1",
            )
            .bind(subscriber_id)
            .fetch_optional(p)
            .await
            .context("read suppression")
        })?;
        Ok(row.and_then(|(at, reason, detail)| {
            Some(Suppression {
                at: at?,
                reason: reason?,
                detail,
            })
        }))
    }

    /// The latest received messages about a subscriber, newest first.
    pub async fn inbound_records(
        &self,
        subscriber_id: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<InboundRecord>> {
        read_pool!(self, |p| sqlx::query_as::<_, InboundRecord>(
            "SELECT e.received_at, e.kind, e.delivery_id, d.run_id, e.status, e.detail
             FROM inbound_events e LEFT JOIN deliveries d ON d.id = e.delivery_id
             WHERE e.subscriber_id = $1 ORDER BY e.received_at DESC, e.id DESC LIMIT $2"
        )
        .bind(subscriber_id)
        .bind(limit)
        .fetch_all(p)
        .await
        .context("read received mail"))
    }

    /// Received messages by kind (all time), and kept unrecognised ones with their raw bytes
    /// (newest first, at most `limit`), for the console and tests.
    pub async fn inbound_kept(&self, limit: i64) -> anyhow::Result<Vec<(i64, String, Vec<u8>)>> {
        read_pool!(self, |p| sqlx::query_as::<_, (i64, String, Vec<u8>)>(
            "SELECT received_at, kind, raw FROM inbound_events WHERE raw IS NOT NULL
             ORDER BY id DESC LIMIT $1"
        )
        .bind(limit)
        .fetch_all(p)
        .await
        .context("read kept mail"))
    }

    /// How many messages of each kind were received since `since_ms`.
    pub async fn inbound_counts(&self, since_ms: i64) -> anyhow::Result<InboundCounts> {
        let by_kind: Vec<(String, i64)> = read_pool!(self, |p| sqlx::query_as(
            "SELECT kind, COUNT(*) FROM inbound_events WHERE received_at >= $1
             GROUP BY kind ORDER BY kind"
        )
        .bind(since_ms)
        .fetch_all(p)
        .await
        .context("count received mail"))?;
        Ok(InboundCounts { by_kind })
    }

    /// Received messages newest first, of one kind or all, with ids below `before`.
    pub async fn inbound_list(
        &self,
        kind: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<InboundListed>> {
        read_pool!(self, |p| sqlx::query_as::<_, InboundListed>(
            "SELECT e.id, e.received_at, e.via, e.kind, e.subscriber_id, s.email, d.run_id,
                    e.status, e.detail, e.raw IS NOT NULL AS kept
             FROM inbound_events e
             LEFT JOIN subscribers s ON s.id = e.subscriber_id
             LEFT JOIN deliveries d ON d.id = e.delivery_id
             WHERE ($1 = '' OR e.kind = $1) AND e.id < $2
             ORDER BY e.id DESC LIMIT $3"
        )
        .bind(kind.unwrap_or_default())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(p)
        .await
        .context("list received mail"))
    }

    /// A kept message's bytes.
    pub async fn inbound_raw(&self, id: i64) -> anyhow::Result<Option<Vec<u8>>> {
        let raw: Option<Option<Vec<u8>>> = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT raw FROM inbound_events WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await
        .context("read kept mail"))?;
        Ok(raw.flatten())
    }
}
