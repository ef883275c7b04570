//! What each digest mail held (its language and article ids), recorded when the mail is
//! prepared, for its web copy. Each distinct list is stored once (`digest_contents`); a
//! delivery only points at its list (`digest_copies`). A copy keeps its run and person, not a
//! reference to the delivery row: it outlives the delivery (retention, `digests.keep_days`)
//! until its run is older than `digests.copy_keep_days`, and goes with an erased person.

use std::collections::HashMap;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::{
    Store,
    articles::{ArticleRow, COLUMNS},
    ledger_outcomes::CHUNK,
    read_pool, write_tx,
};
use crate::domain::Article;

/// What one mail held, as [`Store::record_digest_copies`] takes it.
pub struct NewCopy<'a> {
    pub delivery_id: i64,
    pub run_id: i64,
    pub subscriber_id: i64,
    pub locale: &'a str,
    pub article_ids: &'a [String],
}

/// What one delivery's mail held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCopy {
    pub delivery_id: i64,
    pub run_id: i64,
    /// `zh-CN` or `en`.
    pub locale: String,
    /// In mail order.
    pub article_ids: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct CopyRow {
    delivery_id: i64,
    run_id: i64,
    locale: String,
    article_ids: String,
}

/// The key of a list: its language and ids, each length-prefixed.
fn fingerprint(locale: &str, ids: &[String]) -> String {
    let mut h = Sha256::new();
    for part in std::iter::once(locale).chain(ids.iter().map(String::as_str)) {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Store {
    /// Records what the mails of `copies` hold, replacing what an earlier attempt of the same
    /// delivery held.
    #[tracing::instrument(skip_all, fields(n = copies.len()))]
    pub async fn record_digest_copies(
        &self,
        copies: &[NewCopy<'_>],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        if copies.is_empty() {
            return Ok(());
        }
        let mut lists: HashMap<String, (&str, &[String])> = HashMap::new();
        let keyed: Vec<(&NewCopy, String)> = copies
            .iter()
            .map(|c| {
                let key = fingerprint(c.locale, c.article_ids);
                lists
                    .entry(key.clone())
                    .or_insert((c.locale, c.article_ids));
                (c, key)
            })
            .collect();
        write_tx!(self, |tx| {
            let mut content_ids = HashMap::with_capacity(lists.len());
            for (key, (locale, ids)) in &lists {
                sqlx::query(
                    "INSERT INTO digest_contents (fingerprint, locale, article_ids, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (fingerprint) DO NOTHING",
                )
                .bind(key)
                .bind(*locale)
                .bind(serde_json::to_string(ids).context("article ids as JSON")?)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("store digest content")?;
                let id: i64 =
                    sqlx::query_scalar("SELECT id FROM digest_contents WHERE fingerprint = $1")
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await
                        .context("find digest content")?;
                content_ids.insert(key.as_str(), id);
            }
            for chunk in keyed.chunks(CHUNK) {
                let rows = (0..chunk.len())
                    .map(|i| {
                        let at = 4 * i;
                        format!("(${}, ${}, ${}, ${})", at + 1, at + 2, at + 3, at + 4)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO digest_copies (delivery_id, run_id, subscriber_id, content_id)
                     VALUES {rows}
                     ON CONFLICT (delivery_id) DO UPDATE SET content_id = excluded.content_id"
                );
                let mut q = sqlx::query(&sql);
                for (c, key) in chunk {
                    q = q
                        .bind(c.delivery_id)
                        .bind(c.run_id)
                        .bind(c.subscriber_id)
                        .bind(content_ids[key.as_str()]);
                }
                q.execute(&mut *tx).await.context("store digest copies")?;
            }
            tx.commit().await.context("commit digest copies")?;
        });
        Ok(())
    }

    /// What delivery `id`'s mail held, while its copy is kept: an erased person's copies are
    /// gone with them, an unsubscribed one's stay, and a copy outlives its delivery row.
    pub async fn digest_copy(&self, delivery_id: i64) -> anyhow::Result<Option<DigestCopy>> {
        let row: Option<CopyRow> = read_pool!(self, |p| sqlx::query_as(
            "SELECT k.delivery_id, k.run_id, c.locale, c.article_ids
             FROM digest_copies k
             JOIN digest_contents c ON c.id = k.content_id
             WHERE k.delivery_id = $1"
        )
        .bind(delivery_id)
        .fetch_optional(p)
        .await
        .context("load digest copy"))?;
        row.map(|r| {
            Ok(DigestCopy {
                delivery_id: r.delivery_id,
                run_id: r.run_id,
                locale: r.locale,
                article_ids: serde_json::from_str(&r.article_ids)
                    .context("digest content article ids")?,
            })
        })
        .transpose()
    }

    /// The articles of `ids` that are not retracted, in the order of `ids`.
    pub async fn articles_by_ids(&self, ids: &[String]) -> anyhow::Result<Vec<Article>> {
        let mut found: HashMap<String, Article> = HashMap::new();
        for chunk in ids.chunks(super::MAX_BATCH) {
            let marks = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {COLUMNS} FROM articles WHERE retracted_at IS NULL AND id IN ({marks})"
            );
            let rows: Vec<ArticleRow> = read_pool!(self, |p| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await.context("load articles by id")
            })?;
            found.extend(rows.into_iter().map(|r| {
                let a = Article::from(r);
                (a.id.clone(), a)
            }));
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn lists_differ_by_language_order_and_boundaries() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = fingerprint("zh-CN", &ids(&["a", "b"]));
        assert_eq!(a, fingerprint("zh-CN", &ids(&["a", "b"])));
        assert_ne!(a, fingerprint("en", &ids(&["a", "b"])));
        assert_ne!(a, fingerprint("zh-CN", &ids(&["b", "a"])));
        assert_ne!(a, fingerprint("zh-CN", &ids(&["ab"])));
    }
}
