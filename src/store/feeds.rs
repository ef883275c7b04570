//! What the feed cache reads: sections with their edit time, per-section change marks (kept by
//! the triggers of migration 0010), and the newest visible articles.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{Store, read_pool};
use crate::domain::Article;

/// A section as the feeds show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedSection {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Last edit of title or description (ms), part of that section's Last-Modified.
    pub updated_at: i64,
}

impl Store {
    /// Every section in display order, with its last edit time.
    pub async fn feed_sections(&self) -> anyhow::Result<Vec<FeedSection>> {
        read_pool!(self, |p| sqlx::query_as::<_, FeedSection>(
            "SELECT slug, title, description, updated_at FROM sections ORDER BY position, slug"
        )
        .fetch_all(p)
        .await
        .context("list feed sections"))
    }

    /// The last instant (ms) an article entered, changed in, left or was retracted from each
    /// section; sections never touched are absent.
    pub async fn feed_marks(&self) -> anyhow::Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = read_pool!(self, |p| sqlx::query_as(
            "SELECT section, changed_at FROM feed_marks"
        )
        .fetch_all(p)
        .await
        .context("read feed marks"))?;
        Ok(rows.into_iter().collect())
    }

    /// The newest `limit` articles of `section` (all sections when `None`) that readers can
    /// see at `now`: not retracted, `published_at <= now`; newest first, ties by id.
    pub async fn feed_articles(
        &self,
        section: Option<&str>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Article>> {
        Ok(self
            .list_articles(section, Some(now), limit, None)
            .await
            .context("newest visible articles")?
            .items)
    }
}
