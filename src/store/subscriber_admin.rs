//! Subscribers seen from the admin side and from digests: listing, erasure, clean-up.

use std::collections::HashMap;

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{
    Store, read_pool,
    subscribers::{SUBSCRIBER_COLUMNS, SubscriberRow},
    write_tx,
};
use crate::domain::{Subscriber, SubscriberStatus};

/// Position in the by-id order of subscriber listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberCursor(pub i64);

impl SubscriberCursor {
    /// Opaque text form used in `next_cursor`.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("s:{}", self.0))
    }

    /// Reads a cursor produced by [`encode`](Self::encode).
    pub fn decode(s: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        raw.strip_prefix("s:")?.parse().ok().map(Self)
    }
}

impl Store {
    /// One subscriber by (normalised) address.
    pub async fn subscriber_by_email(&self, email: &str) -> anyhow::Result<Option<Subscriber>> {
        let sql = format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email = $1");
        let row: Option<SubscriberRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(p)
            .await
            .context("get subscriber"))?;
        Ok(self.with_sections(row.into_iter().collect()).await?.pop())
    }

    /// A page of subscribers in id order, optionally of one status.
    pub async fn list_subscribers(
        &self,
        status: Option<SubscriberStatus>,
        limit: u32,
        after: Option<SubscriberCursor>,
    ) -> anyhow::Result<(Vec<Subscriber>, Option<SubscriberCursor>)> {
        let filter = if status.is_some() {
            "AND status = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id > $1 {filter} ORDER BY id LIMIT $2"
        );
        let after = after.map_or(0, |c| c.0);
        // One more than asked tells whether another page exists.
        let fetch = i64::from(limit) + 1;
        let mut rows: Vec<SubscriberRow> = read_pool!(self, |p| {
            let mut q = sqlx::query_as(&sql).bind(after).bind(fetch);
            if let Some(s) = status {
                q = q.bind(s.as_str());
            }
            q.fetch_all(p).await.context("list subscribers")
        })?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| SubscriberCursor(r.id))
        } else {
            None
        };
        Ok((self.with_sections(rows).await?, next))
    }

    /// A page of a schedule's active subscribers in id order, after `after_id` (for digests).
    pub async fn active_subscribers_of_schedule(
        &self,
        schedule: &str,
        after_id: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<Subscriber>> {
        let sql = format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers
             WHERE schedule = $1 AND status = 'active' AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows: Vec<SubscriberRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(schedule)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await
            .context("list active subscribers"))?;
        self.with_sections(rows).await
    }

    /// How many subscribers there are, optionally of one status.
    pub async fn count_subscribers(&self, status: Option<SubscriberStatus>) -> anyhow::Result<i64> {
        let status = status.map(SubscriberStatus::as_str);
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscribers WHERE status = $1 OR $2"
        )
        .bind(status.unwrap_or(""))
        .bind(status.is_none())
        .fetch_one(p)
        .await
        .context("count subscribers"))
    }

    /// How many tokens a subscriber has (what erasure must leave at zero).
    pub async fn count_tokens(&self, subscriber_id: i64) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM tokens WHERE subscriber_id = $1"
        )
        .bind(subscriber_id)
        .fetch_one(p)
        .await
        .context("count tokens"))
    }

    /// Erases a person: their row, sections, tokens, watermarks and console history; `false` if unknown.
    #[tracing::instrument(skip_all)]
    pub async fn erase_subscriber(&self, email: &str) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM subscribers WHERE email = $1")
                .bind(email)
                .fetch_optional(&mut *tx)
                .await
                .context("find subscriber")?;
            if let Some(id) = id {
                // Explicit deletes, so erasure does not depend on foreign keys being enforced.
                for sql in [
                    "DELETE FROM tokens WHERE subscriber_id = $1",
                    "DELETE FROM subscriber_sections WHERE subscriber_id = $1",
                    "DELETE FROM watermarks WHERE subscriber_id = $1",
                    "DELETE FROM subscriber_history WHERE subscriber_id = $1",
                    "DELETE FROM inbound_events WHERE subscriber_id = $1",
                    "DELETE FROM subscribers WHERE id = $1",
                ] {
                    sqlx::query(sql)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .context("erase subscriber")?;
                }
            }
            tx.commit().await.context("commit erasure")?;
            Ok(id.is_some())
        })
    }

    /// Deletes confirmation tokens expired before `tokens_before` and pending sign-ups whose
    /// last mail went out before `pending_before`; returns how many of each.
    pub async fn purge_stale_subscriptions(
        &self,
        tokens_before: i64,
        pending_before: i64,
    ) -> anyhow::Result<(u64, u64)> {
        write_tx!(self, |tx| {
            let tokens =
                sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < $1")
                    .bind(tokens_before)
                    .execute(&mut *tx)
                    .await
                    .context("purge tokens")?
                    .rows_affected();
            let stale = "SELECT id FROM subscribers WHERE status = 'pending'
                AND COALESCE(last_confirmation_at, created_at) < $1";
            for table in ["tokens", "subscriber_sections"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE subscriber_id IN ({stale})"
                ))
                .bind(pending_before)
                .execute(&mut *tx)
                .await
                .context("purge pending dependents")?;
            }
            let pending = sqlx::query(&format!("DELETE FROM subscribers WHERE id IN ({stale})"))
                .bind(pending_before)
                .execute(&mut *tx)
                .await
                .context("purge pending")?
                .rows_affected();
            tx.commit().await.context("commit purge")?;
            Ok((tokens, pending))
        })
    }

    /// Attaches each row's chosen sections.
    pub(super) async fn with_sections(
        &self,
        rows: Vec<SubscriberRow>,
    ) -> anyhow::Result<Vec<Subscriber>> {
        let ids: Vec<i64> = rows
            .iter()
            .filter(|r| !r.all_sections)
            .map(|r| r.id)
            .collect();
        let mut by_id: HashMap<i64, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(super::MAX_BATCH) {
            let sql = format!(
                "SELECT subscriber_id, section FROM subscriber_sections
                 WHERE subscriber_id IN ({}) ORDER BY subscriber_id, section",
                placeholders(1, chunk.len())
            );
            let pairs: Vec<(i64, String)> = read_pool!(self, |p| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await.context("load sections")
            })?;
            for (id, section) in pairs {
                by_id.entry(id).or_default().push(section);
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let sections = by_id.remove(&r.id).unwrap_or_default();
                r.into_subscriber(sections)
            })
            .collect())
    }
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
