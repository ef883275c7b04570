//! CSV files uploaded in the console, kept between their preview and the import: under a
//! random id, for the person who uploaded them only, until imported or expired.

use anyhow::Context;

use super::Store;

/// An uploaded file waiting for its import.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    pub id: String,
    pub filename: String,
    pub content: Vec<u8>,
    pub expires_at: i64,
}

impl Store {
    /// Keeps an upload until `expires_at`, and drops every upload expired by `now_ms`.
    pub async fn put_upload(
        &self,
        upload: &Upload,
        uploader: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM subscriber_uploads WHERE expires_at <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("drop expired uploads")?;
            sqlx::query(
                "INSERT INTO subscriber_uploads (id, uploader, filename, content, created_at,
                    expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&upload.id)
            .bind(uploader)
            .bind(&upload.filename)
            .bind(&upload.content)
            .bind(now_ms)
            .bind(upload.expires_at)
            .execute(&mut *tx)
            .await
            .context("keep upload")?;
            tx.commit().await.context("commit upload")?;
        });
        Ok(())
    }

    /// `uploader`'s upload `id`, unless it expired.
    pub async fn get_upload(
        &self,
        id: &str,
        uploader: &str,
        now_ms: i64,
    ) -> anyhow::Result<Option<Upload>> {
        read_pool!(self, |p| sqlx::query_as(
            "SELECT id, filename, content, expires_at FROM subscriber_uploads
             WHERE id = $1 AND uploader = $2 AND expires_at > $3"
        )
        .bind(id)
        .bind(uploader)
        .bind(now_ms)
        .fetch_optional(p)
        .await
        .context("get upload"))
    }

    /// Takes `uploader`'s upload `id` out (so that it is imported once); `None` if it is gone
    /// or expired.
    pub async fn take_upload(
        &self,
        id: &str,
        uploader: &str,
        now_ms: i64,
    ) -> anyhow::Result<Option<Upload>> {
        write_tx!(self, |tx| {
            let upload: Option<Upload> = sqlx::query_as(
                "DELETE FROM subscriber_uploads WHERE id = $1 AND uploader = $2
                 RETURNING id, filename, content, expires_at",
            )
            .bind(id)
            .bind(uploader)
            .fetch_optional(&mut *tx)
            .await
            .context("take upload")?;
            tx.commit().await.context("commit taken upload")?;
            Ok(upload.filter(|u| u.expires_at > now_ms))
        })
    }

    /// How many uploads are kept (for tests: nothing lingers after an import).
    pub async fn count_uploads(&self) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscriber_uploads"
        )
        .fetch_one(p)
        .await
        .context("count uploads"))
    }
}
