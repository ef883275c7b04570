//! The article as stored and as answered by the API.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::serde_time::{rfc3339, rfc3339_opt};
use sha2::{Digest, Sha256};

/// An article's picture and its caption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// A validated, sanitised article ready to store (what ingest produces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArticle {
    pub id: String,
    pub section: String,
    pub title: String,
    pub url: String,
    pub content_html: String,
    pub summary: String,
    pub author: Option<String>,
    pub image: Option<Image>,
    pub tags: Vec<String>,
    pub published_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Where it came from: `api`, or a source name.
    pub source: String,
}

impl NewArticle {
    /// SHA-256 over every field a reader can see: equal hashes mean nothing changed.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        field(&self.section);
        field(&self.title);
        field(&self.url);
        field(&self.content_html);
        field(&self.summary);
        field(self.author.as_deref().unwrap_or("\u{0}"));
        match &self.image {
            Some(i) => {
                field(&i.url);
                field(i.caption.as_deref().unwrap_or("\u{0}"));
            }
            None => field("\u{0}"),
        }
        field(&self.tags.join("\u{0}"));
        field(&self.published_at.timestamp_millis().to_string());
        field(
            &self
                .updated_at
                .map(|t| t.timestamp_millis().to_string())
                .unwrap_or_default(),
        );
        hex::encode(h.finalize())
    }
}

/// Whether readers can see the article yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArticleStatus {
    /// `published_at` is in the future.
    Scheduled,
    Published,
}

/// A stored article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Article {
    pub id: String,
    pub section: String,
    pub title: String,
    pub url: String,
    pub content_html: String,
    pub summary: String,
    pub author: Option<String>,
    pub image: Option<Image>,
    pub tags: Vec<String>,
    #[serde(serialize_with = "rfc3339")]
    pub published_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub updated_at: Option<DateTime<Utc>>,
    pub content_hash: String,
    pub source: String,
    #[serde(skip)]
    pub visible_at: DateTime<Utc>,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
    /// Last time an ingest changed this article (feeds use it for "updated").
    #[serde(serialize_with = "rfc3339")]
    pub modified_at: DateTime<Utc>,
}

impl Article {
    /// Scheduled or published, as of `now`.
    pub fn status(&self, now: DateTime<Utc>) -> ArticleStatus {
        if self.published_at > now {
            ArticleStatus::Scheduled
        } else {
            ArticleStatus::Published
        }
    }
}
