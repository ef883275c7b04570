//! What came back after the 250 (SPEC §10): each received message as an `inbound_events` row,
//! and its effect on the delivery and the subscriber it was about, in one transaction.

use anyhow::Context;

use super::{Store, read_pool, write_tx};

/// One received message, as recorded.
#[derive(Debug, Clone, Default)]
pub struct InboundEvent {
    pub received_at: i64,
    /// `smtp` or `imap`.
    pub via: String,
    /// One of `metrics::INBOUND_KINDS`.
    pub kind: String,
    pub subscriber_id: Option<i64>,
    pub delivery_id: Option<i64>,
    /// The DSN's enhanced status code.
    pub status: Option<String>,
    /// Diagnostic, feedback type, or why the message was not recognised.
    pub detail: Option<String>,
    /// The message itself: kept only for what was not recognised or forged.
    pub raw: Option<Vec<u8>>,
}

/// What a recorded message does to its subscriber and delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the record (an auto-reply, a forged report, unknown mail).
    None,
    /// 5.x.x: the delivery is `bounced`, the subscriber suppressed.
    HardBounce,
    /// 4.x.x: counted; soft bounces of `limit` different deliveries since `since_ms`
    /// suppress the subscriber.
    SoftBounce { limit: u32, since_ms: i64 },
    /// A spam complaint: unsubscribed and suppressed.
    Complaint,
    /// A mailto unsubscribe of this generation, exactly as the one-click POST.
    Unsubscribe { generation: i64 },
}

/// What recording changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The delivery's status or DSN fields changed.
    pub delivery_changed: bool,
    /// The subscriber is suppressed now (and was not before).
    pub suppressed: bool,
    /// The subscriber is unsubscribed now (and was not before).
    pub unsubscribed: bool,
}

/// A delivery a report names, with who it went to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRef {
    pub id: i64,
    pub run_id: i64,
    pub subscriber_id: i64,
    pub status: String,
    /// The subscriber's address (none once they were erased).
    pub email: Option<String>,
}

const SUPPRESS: &str = "suppressed_at = COALESCE(suppressed_at, $2),
     suppressed_reason = CASE WHEN suppressed_at IS NULL THEN $3 ELSE suppressed_reason END,
     suppressed_detail = CASE WHEN suppressed_at IS NULL THEN $4 ELSE suppressed_detail END";

impl Store {
    /// The delivery `id`, if it exists.
    pub async fn inbound_delivery(&self, id: i64) -> anyhow::Result<Option<DeliveryRef>> {
        read_pool!(self, |p| sqlx::query_as::<_, DeliveryRef>(
            "SELECT d.id, d.run_id, d.subscriber_id, d.status, s.email
             FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id WHERE d.id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await
        .context("find delivery"))
    }

    /// The delivery of run `run_id` to `subscriber_id`, if any.
    pub async fn inbound_delivery_of(
        &self,
        run_id: i64,
        subscriber_id: i64,
    ) -> anyhow::Result<Option<DeliveryRef>> {
        read_pool!(self, |p| sqlx::query_as::<_, DeliveryRef>(
            "SELECT d.id, d.run_id, d.subscriber_id, d.status, s.email
             FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.run_id = $1 AND d.subscriber_id = $2"
        )
        .bind(run_id)
        .bind(subscriber_id)
        .fetch_optional(p)
        .await
        .context("find delivery of run"))
    }

    /// Records `event` and applies `effect` to its subscriber and delivery, in one transaction.
    pub async fn record_inbound(
        &self,
        event: &InboundEvent,
        effect: Effect,
        keep_raw_max: u32,
    ) -> anyhow::Result<Applied> {
        let now = event.received_at;
        let detail = event.detail.as_deref();
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO inbound_events
                   (received_at, via, kind, subscriber_id, delivery_id, status, detail, raw)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(now)
            .bind(&event.via)
            .bind(&event.kind)
            .bind(event.subscriber_id)
            .bind(event.delivery_id)
            .bind(event.status.as_deref())
            .bind(detail)
            .bind(event.raw.as_deref())
            .execute(&mut *tx)
            .await
            .context("record received mail")?;
            if event.raw.is_some() {
                // Bounded: the oldest kept messages go first.
                sqlx::query(
                    "UPDATE inbound_events SET raw = NULL WHERE raw IS NOT NULL AND id <=
                       (SELECT id FROM inbound_events WHERE raw IS NOT NULL
                        ORDER BY id DESC LIMIT 1 OFFSET $1)",
                )
                .bind(i64::from(keep_raw_max))
                .execute(&mut *tx)
                .await
                .context("bound kept mail")?;
            }
            let mut applied = Applied::default();
            let error = match (&event.status, detail) {
                (Some(s), Some(d)) => Some(format!("DSN {s}: {d}")),
                (Some(s), None) => Some(format!("DSN {s}")),
                (None, d) => d.map(str::to_owned),
            };
            if let Some(delivery) = event.delivery_id {
                let bounce = matches!(effect, Effect::HardBounce);
                let changed = sqlx::query(
                    "UPDATE deliveries SET dsn_status = $2, last_error = $3,
                        status = CASE WHEN $4 AND status IN ('sent', 'uncertain')
                                      THEN 'bounced' ELSE status END
                     WHERE id = $1",
                )
                .bind(delivery)
                .bind(event.status.as_deref())
                .bind(error.as_deref())
                .bind(bounce)
                .execute(&mut *tx)
                .await
                .context("record the DSN on its delivery")?
                .rows_affected()
                    > 0;
                if changed {
                    sqlx::query(
                        "UPDATE runs SET revision = revision + 1
                         WHERE id = (SELECT run_id FROM deliveries WHERE id = $1)",
                    )
                    .bind(delivery)
                    .execute(&mut *tx)
                    .await
                    .context("revise run")?;
                }
                applied.delivery_changed = changed;
            }
            let Some(subscriber) = event.subscriber_id else {
                tx.commit().await.context("commit received mail")?;
                return Ok(applied);
            };
            let was: Option<(String, Option<i64>)> =
                sqlx::query_as("SELECT status, suppressed_at FROM subscribers WHERE id = $1")
                    .bind(subscriber)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("read subscriber")?;
            let Some((status_before, suppressed_before)) = was else {
                tx.commit().await.context("commit received mail")?;
                return Ok(applied);
            };
            let suppress = |status: &'static str| {
                let (status_column, time_column) = match status {
                    "bounced" => ("'bounced'", "bounced_at"),
                    _ => ("'unsubscribed'", "unsubscribed_at"),
                };
                format!(
                    "UPDATE subscribers SET
                       status = CASE WHEN status IN ('active', 'pending') THEN {status_column}
                                     ELSE status END,
                       {time_column} = CASE WHEN status IN ('active', 'pending') THEN $2
                                            ELSE {time_column} END,
                       {SUPPRESS}
                     WHERE id = $1"
                )
            };
            let soft_reached = match effect {
                Effect::SoftBounce { limit, since_ms } => {
                    let n: i64 = sqlx::query_scalar(
                        // Deliveries that soft-bounced, not reports: a relay repeats its
                        // "delayed" notice for one message, and a mailbox poller may hand
                        // the same report over twice.
                        "SELECT COUNT(DISTINCT COALESCE(delivery_id, -id)) FROM inbound_events
                         WHERE subscriber_id = $1 AND kind = 'soft_bounce' AND received_at >= $2",
                    )
                    .bind(subscriber)
                    .bind(since_ms)
                    .fetch_one(&mut *tx)
                    .await
                    .context("count soft bounces")?;
                    n >= i64::from(limit)
                }
                _ => false,
            };
            let change = match effect {
                Effect::HardBounce => Some((suppress("bounced"), "hard_bounce")),
                Effect::SoftBounce { .. } if soft_reached => {
                    Some((suppress("bounced"), "soft_bounces"))
                }
                Effect::Complaint => Some((suppress("unsubscribed"), "complaint")),
                _ => None,
            };
            if let Some((sql, reason)) = change {
                sqlx::query(&sql)
                    .bind(subscriber)
                    .bind(now)
                    .bind(reason)
                    .bind(error.as_deref().or(detail))
                    .execute(&mut *tx)
                    .await
                    .context("suppress subscriber")?;
                applied.suppressed = suppressed_before.is_none();
                applied.unsubscribed =
                    reason == "complaint" && matches!(status_before.as_str(), "active" | "pending");
            }
            if let Effect::Unsubscribe { generation } = effect {
                applied.unsubscribed = sqlx::query(
                    "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = $3
                     WHERE id = $1 AND generation = $2 AND status <> 'unsubscribed'",
                )
                .bind(subscriber)
                .bind(generation)
                .bind(now)
                .execute(&mut *tx)
                .await
                .context("unsubscribe")?
                .rows_affected()
                    > 0;
            }
            tx.commit().await.context("commit received mail")?;
            Ok(applied)
        })
    }

    /// Forgets kept messages (unrecognised or forged) received before `before_ms`; returns how
    /// many rows were deleted.
    pub async fn prune_inbound(&self, before_ms: i64) -> anyhow::Result<u64> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "DELETE FROM inbound_events
                 WHERE kind IN ('unrecognised', 'forged') AND received_at < $1",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await
            .context("prune received mail")?
            .rows_affected();
            tx.commit().await.context("commit prune")?;
            Ok(n)
        })
    }
}
