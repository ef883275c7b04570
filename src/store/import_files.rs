//! What `tidings import DIR` stored from each file (migration 0220), so that a later import
//! recognises the files it would store unchanged without preparing them again.

use std::collections::HashMap;

use anyhow::Context;

use super::{Db, Store, write_tx};

/// A file an import stored: its key, the digest of what was read, the article it became and
/// that article's content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    pub key: String,
    pub digest: String,
    pub article_id: String,
    pub article_hash: String,
}

/// A file of an earlier import whose article is still what that file made.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KnownFile {
    pub item_key: String,
    pub digest: String,
    pub article_id: String,
}

/// Keys read or written per statement on SQLite (one parameter each).
const SQLITE_CHUNK: usize = 500;

impl Store {
    /// Of `keys`, the files an earlier import stored whose article is still as that import
    /// left it: same content hash, not retracted. By key.
    pub async fn known_import_files(
        &self,
        keys: &[String],
    ) -> anyhow::Result<HashMap<String, KnownFile>> {
        const SELECT: &str = "SELECT f.item_key, f.digest, f.article_id FROM import_files f
            JOIN articles a ON a.id = f.article_id
            WHERE a.content_hash = f.article_hash AND a.retracted_at IS NULL AND f.item_key";
        let mut known = HashMap::new();
        match &self.db {
            Db::Postgres(pool) => {
                let rows: Vec<KnownFile> = sqlx::query_as(&format!("{SELECT} = ANY($1::TEXT[])"))
                    .bind(keys)
                    .fetch_all(pool)
                    .await
                    .context("read the files of earlier imports")?;
                known.extend(rows.into_iter().map(|r| (r.item_key.clone(), r)));
            }
            Db::Sqlite { reader, .. } => {
                for chunk in keys.chunks(SQLITE_CHUNK) {
                    let list = serde_json::to_string(chunk).context("encode keys")?;
                    let rows: Vec<KnownFile> =
                        sqlx::query_as(&format!("{SELECT} IN (SELECT value FROM json_each($1))"))
                            .bind(list)
                            .fetch_all(reader)
                            .await
                            .context("read the files of earlier imports")?;
                    known.extend(rows.into_iter().map(|r| (r.item_key.clone(), r)));
                }
            }
        }
        Ok(known)
    }

    /// Remembers what an import stored from each of `files`.
    pub async fn put_import_files(
        &self,
        files: &[ImportedFile],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        const UPSERT: &str = "ON CONFLICT (item_key) DO UPDATE SET digest = EXCLUDED.digest,
            article_id = EXCLUDED.article_id, article_hash = EXCLUDED.article_hash,
            seen_at = EXCLUDED.seen_at";
        if files.is_empty() {
            return Ok(());
        }
        match &self.db {
            Db::Postgres(pool) => {
                let column =
                    |f: fn(&ImportedFile) -> &str| -> Vec<&str> { files.iter().map(f).collect() };
                sqlx::query(&format!(
                    "INSERT INTO import_files (item_key, digest, article_id, article_hash, seen_at)
                     SELECT k, d, a, h, $5
                     FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) AS t(k, d, a, h)
                     {UPSERT}"
                ))
                .bind(column(|f| &f.key))
                .bind(column(|f| &f.digest))
                .bind(column(|f| &f.article_id))
                .bind(column(|f| &f.article_hash))
                .bind(now_ms)
                .execute(pool)
                .await
                .context("remember the imported files")?;
                Ok(())
            }
            Db::Sqlite { .. } => {
                let insert = format!(
                    "INSERT INTO import_files (item_key, digest, article_id, article_hash, seen_at)
                     VALUES ($1, $2, $3, $4, $5) {UPSERT}"
                );
                for chunk in files.chunks(SQLITE_CHUNK) {
                    write_tx!(self, |tx| {
                        for f in chunk {
                            sqlx::query(&insert)
                                .bind(&f.key)
                                .bind(&f.digest)
                                .bind(&f.article_id)
                                .bind(&f.article_hash)
                                .bind(now_ms)
                                .execute(&mut *tx)
                                .await
                                .context("remember an imported file")?;
                        }
                        tx.commit().await.context("commit the imported files")?;
                    });
                }
                Ok(())
            }
        }
    }
}
