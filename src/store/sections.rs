//! Sections: created from config on first start, edited through the admin API.

use super::{Store, read_pool, write_tx};
use crate::domain::Section;
use anyhow::Context;

impl Store {
    /// Inserts each given section that does not exist yet (at its `position`); existing ones
    /// are left as edited.
    #[tracing::instrument(skip_all)]
    pub async fn ensure_sections(&self, sections: &[Section], now_ms: i64) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            for s in sections {
                sqlx::query(
                    "INSERT INTO sections (slug, title, description, position, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (slug) DO NOTHING",
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
            }
            tx.commit().await.context("commit section")?;
            Ok(inserted)
        })
    }
}
