//! Sections: created from config on first start, edited and deleted through the admin API.
//! A deleted section is remembered (`deleted_sections`) so that the config does not bring it
//! back at the next start; creating it again through the API forgets that.

use super::{Store, read_pool, write_tx};
use crate::domain::Section;
use anyhow::Context;

impl Store {
    /// Inserts each given section that does not exist yet (at its `position`); existing ones
    /// are left as edited, deleted ones stay deleted.
    #[tracing::instrument(skip_all)]
    pub async fn ensure_sections(&self, sections: &[Section], now_ms: i64) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            for s in sections {
                sqlx::query(
                    "INSERT INTO sections (slug, title, description, position, created_at, updated_at)
                     SELECT $1, $2, $3, $4, $5, $5
                     WHERE NOT EXISTS (SELECT 1 FROM deleted_sections WHERE slug = $1)
                     ON CONFLICT (slug) DO NOTHING",
                )
                .bind(&s.slug)
                .bind(&s.title)
                .bind(&s.description)
                .bind(s.position)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("insert configured section")?;
            }
            tx.commit().await.context("commit sections")?;
        });
        Ok(())
    }

    /// Every section in display order.
    pub async fn list_sections(&self) -> anyhow::Result<Vec<Section>> {
        read_pool!(self, |p| sqlx::query_as::<_, Section>(
            "SELECT slug, title, description, position FROM sections ORDER BY position, slug"
        )
        .fetch_all(p)
        .await
        .context("list sections"))
    }

    /// One section by slug.
    pub async fn get_section(&self, slug: &str) -> anyhow::Result<Option<Section>> {
        read_pool!(self, |p| sqlx::query_as::<_, Section>(
            "SELECT slug, title, description, position FROM sections WHERE slug = $1"
        )
        .bind(slug)
        .fetch_optional(p)
        .await
        .context("get section"))
    }

    /// Creates or replaces a section's title and description; `true` when it was created.
    #[tracing::instrument(skip_all, fields(slug))]
    pub async fn put_section(
        &self,
        slug: &str,
        title: &str,
        description: &str,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            // Insert first so two concurrent creators cannot both miss the row.
            let inserted = sqlx::query(
                "INSERT INTO sections (slug, title, description, position, created_at, updated_at)
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), -1) + 1 FROM sections), $4, $4)
                 ON CONFLICT (slug) DO NOTHING",
            )
            .bind(slug)
            .bind(title)
            .bind(description)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("insert section")?
            .rows_affected()
                == 1;
            if !inserted {
                sqlx::query(
                    "UPDATE sections SET title = $2, description = $3, updated_at = $4 WHERE slug = $1",
                )
                .bind(slug)
                .bind(title)
                .bind(description)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("update section")?;
            } else {
                sqlx::query("DELETE FROM deleted_sections WHERE slug = $1")
                    .bind(slug)
                    .execute(&mut *tx)
                    .await
                    .context("forget section deletion")?;
            }
            tx.commit().await.context("commit section")?;
            Ok(inserted)
        })
    }
}

/// What [`Store::delete_section`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionDeletion {
    Deleted,
    /// There was no such section.
    Missing,
    /// Nothing changed: the section still holds this many articles (scheduled ones included).
    HasArticles(i64),
}

impl Store {
    /// Deletes an empty section: with it go its retracted articles (tombstones no feed or digest
    /// shows) and subscribers' choices of it; it is remembered as deleted so that the config
    /// does not seed it again.
    #[tracing::instrument(skip_all, fields(slug))]
    pub async fn delete_section(&self, slug: &str, now_ms: i64) -> anyhow::Result<SectionDeletion> {
        let lock = match self.backend() {
            // Article writes take a key-share lock on the section they reference: none can
            // slip in between the count and the delete.
            super::Backend::Postgres => " FOR UPDATE",
            super::Backend::Sqlite => "",
        };
        write_tx!(self, |tx| {
            let found: Option<String> =
                sqlx::query_scalar(&format!("SELECT slug FROM sections WHERE slug = $1{lock}"))
                    .bind(slug)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("lock section")?;
            if found.is_none() {
                return Ok(SectionDeletion::Missing);
            }
            let articles: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM articles WHERE section = $1 AND retracted_at IS NULL",
            )
            .bind(slug)
            .fetch_one(&mut *tx)
            .await
            .context("count articles of section")?;
            if articles > 0 {
                return Ok(SectionDeletion::HasArticles(articles));
            }
            for (sql, what) in [
                (
                    "DELETE FROM articles WHERE section = $1",
                    "delete retracted articles",
                ),
                (
                    "DELETE FROM subscriber_sections WHERE section = $1",
                    "delete subscribers' choices of section",
                ),
                ("DELETE FROM sections WHERE slug = $1", "delete section"),
            ] {
                sqlx::query(sql)
                    .bind(slug)
                    .execute(&mut *tx)
                    .await
                    .context(what)?;
            }
            sqlx::query(
                "INSERT INTO deleted_sections (slug, deleted_at) VALUES ($1, $2)
                 ON CONFLICT (slug) DO UPDATE SET deleted_at = excluded.deleted_at",
            )
            .bind(slug)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("remember section deletion")?;
            tx.commit().await.context("commit section deletion")?;
            Ok(SectionDeletion::Deleted)
        })
    }

    /// When a section was last deleted (ms; 0 if never): the list of sections changed then, so
    /// the pages listing them are no older than this.
    pub async fn sections_deleted_at(&self) -> anyhow::Result<i64> {
        let at: Option<i64> = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT MAX(deleted_at) FROM deleted_sections"
        )
        .fetch_one(p)
        .await
        .context("last section deletion"))?;
        Ok(at.unwrap_or(0))
    }
}
