//! Store queries for sources: health and HTTP validators (`source_state`), and what each
//! source has already turned into which article (`source_items`).

use anyhow::Context;
use serde::Serialize;

use super::{Store, read_pool, write_tx};
use crate::domain::SourceType;

/// Health of one source as recorded by its last polls.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SourceState {
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: SourceType,
    pub last_success_at: Option<i64>,
    pub last_error_at: Option<i64>,
    pub last_error: Option<String>,
    pub items_found: i64,
    /// Failed polls since the last success.
    pub consecutive_errors: i64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl SourceState {
    /// The state of a source that has not run yet.
    pub fn never_ran(name: &str, kind: SourceType) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            last_success_at: None,
            last_error_at: None,
            last_error: None,
            items_found: 0,
            consecutive_errors: 0,
            etag: None,
            last_modified: None,
        }
    }
}

/// HTTP validators of a fetched page, for a conditional GET next time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// One upstream item (a URL, a feed entry id or a file) and the article made from it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceItem {
    pub item_key: String,
    pub article_id: String,
    pub content_hash: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Store {
    /// The recorded state of the source `name`, if it ever ran.
    pub async fn source_state(&self, name: &str) -> anyhow::Result<Option<SourceState>> {
        read_pool!(self, |p| sqlx::query_as(
            "SELECT name, kind, last_success_at, last_error_at, last_error, items_found,
                    consecutive_errors, etag, last_modified FROM source_state WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await
        .context("read source state"))
    }

    /// Records a successful poll; `validators` replace the stored ones when given.
    #[tracing::instrument(skip_all, fields(name))]
    pub async fn record_source_success(
        &self,
        name: &str,
        kind: SourceType,
        items_found: i64,
        validators: Option<&Validators>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO source_state (name, kind, last_success_at, items_found, updated_at)
                 VALUES ($1, $2, $3, $4, $3)
                 ON CONFLICT (name) DO UPDATE SET kind = $2, last_success_at = $3,
                     items_found = $4, consecutive_errors = 0, updated_at = $3",
            )
            .bind(name)
            .bind(kind.as_str())
            .bind(now_ms)
            .bind(items_found)
            .execute(&mut *tx)
            .await
            .context("record source success")?;
            if let Some(v) = validators {
                sqlx::query(
                    "UPDATE source_state SET etag = $2, last_modified = $3 WHERE name = $1",
                )
                .bind(name)
                .bind(&v.etag)
                .bind(&v.last_modified)
                .execute(&mut *tx)
                .await
                .context("store source validators")?;
            }
            tx.commit().await.context("commit source success")?;
            Ok(())
        })
    }

    /// Records a failed poll (or a bad file) with what went wrong.
    #[tracing::instrument(skip_all, fields(name))]
    pub async fn record_source_error(
        &self,
        name: &str,
        kind: SourceType,
        error: &str,
        items_found: Option<i64>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO source_state (name, kind, last_error_at, last_error, items_found,
                     consecutive_errors, updated_at)
                 VALUES ($1, $2, $3, $4, COALESCE($5, 0), 1, $3)
                 ON CONFLICT (name) DO UPDATE SET kind = $2, last_error_at = $3, last_error = $4,
                     items_found = COALESCE($5, source_state.items_found),
                     consecutive_errors = source_state.consecutive_errors + 1, updated_at = $3",
            )
            .bind(name)
            .bind(kind.as_str())
            .bind(now_ms)
            .bind(error)
            .bind(items_found)
            .execute(&mut *tx)
            .await
            .context("record source error")?;
            tx.commit().await.context("commit source error")?;
            Ok(())
        })
    }

    /// What source `source` made of `key` before, if anything.
    pub async fn source_item(&self, source: &str, key: &str) -> anyhow::Result<Option<SourceItem>> {
        read_pool!(self, |p| sqlx::query_as(
            "SELECT item_key, article_id, content_hash, etag, last_modified FROM source_items
             WHERE source = $1 AND item_key = $2"
        )
        .bind(source)
        .bind(key)
        .fetch_optional(p)
        .await
        .context("read source item"))
    }

    /// Every item of `source` (a directory source compares them with the files present).
    pub async fn source_items(&self, source: &str) -> anyhow::Result<Vec<SourceItem>> {
        read_pool!(self, |p| sqlx::query_as(
            "SELECT item_key, article_id, content_hash, etag, last_modified FROM source_items
             WHERE source = $1 ORDER BY item_key"
        )
        .bind(source)
        .fetch_all(p)
        .await
        .context("list source items"))
    }

    /// Remembers that `key` of `source` became `article_id` with `content_hash`.
    #[tracing::instrument(skip_all, fields(source, key))]
    pub async fn put_source_item(
        &self,
        source: &str,
        key: &str,
        article_id: &str,
        content_hash: &str,
        validators: &Validators,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO source_items (source, item_key, article_id, content_hash, seen_at,
                     etag, last_modified)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (source, item_key) DO UPDATE SET article_id = $3, content_hash = $4,
                     seen_at = $5, etag = $6, last_modified = $7",
            )
            .bind(source)
            .bind(key)
            .bind(article_id)
            .bind(content_hash)
            .bind(now_ms)
            .bind(&validators.etag)
            .bind(&validators.last_modified)
            .execute(&mut *tx)
            .await
            .context("put source item")?;
            tx.commit().await.context("commit source item")?;
            Ok(())
        })
    }

    /// Forgets `key` of `source`; returns its article id and whether another item of the same
    /// source still yields that article (then it must not be retracted).
    #[tracing::instrument(skip_all, fields(source, key))]
    pub async fn remove_source_item(
        &self,
        source: &str,
        key: &str,
    ) -> anyhow::Result<Option<(String, bool)>> {
        write_tx!(self, |tx| {
            let article_id: Option<String> = sqlx::query_scalar(
                "DELETE FROM source_items WHERE source = $1 AND item_key = $2 RETURNING article_id",
            )
            .bind(source)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .context("remove source item")?;
            let result = match article_id {
                Some(id) => {
                    let others: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM source_items WHERE source = $1 AND article_id = $2",
                    )
                    .bind(source)
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await
                    .context("count items of article")?;
                    Some((id, others > 0))
                }
                None => None,
            };
            tx.commit().await.context("commit source item removal")?;
            Ok(result)
        })
    }

    /// Whether any item of `source` still yields `article_id`.
    pub async fn source_article_claimed(
        &self,
        source: &str,
        article_id: &str,
    ) -> anyhow::Result<bool> {
        let n: i64 = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM source_items WHERE source = $1 AND article_id = $2"
        )
        .bind(source)
        .bind(article_id)
        .fetch_one(p)
        .await
        .context("count items of article"))?;
        Ok(n > 0)
    }

    /// Number of items `source` currently yields.
    pub async fn count_source_items(&self, source: &str) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM source_items WHERE source = $1"
        )
        .bind(source)
        .fetch_one(p)
        .await
        .context("count source items"))
    }
}
