//! Figures of the console's dashboard.

use anyhow::Context;

use super::{Store, read_pool};
use crate::domain::SubscriberStatus;

impl Store {
    /// How many subscribers have each status (every status listed, zeros included).
    pub async fn subscriber_status_counts(&self) -> anyhow::Result<Vec<(SubscriberStatus, i64)>> {
        let rows: Vec<(String, i64)> = read_pool!(self, |p| sqlx::query_as(
            "SELECT status, COUNT(*) FROM subscribers GROUP BY status"
        )
        .fetch_all(p)
        .await
        .context("count subscribers by status"))?;
        let mut counts = Vec::with_capacity(SubscriberStatus::NAMES.len());
        for name in SubscriberStatus::NAMES {
            let status = SubscriberStatus::parse(name)?;
            let n = rows.iter().find(|(s, _)| s == name).map_or(0, |(_, n)| *n);
            counts.push((status, n));
        }
        Ok(counts)
    }
}
