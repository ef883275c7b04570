//! Articles: idempotent upsert by content hash, retraction, visibility by publication instant.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

use super::{Backend, Store, read_pool, write_tx};
use crate::{
    clock::{from_ms, to_ms},
    domain::{Article, Image, NewArticle},
};

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutResult {
    Created,
    Updated,
    Unchanged,
}

/// The result of [`Store::put_article`].
#[derive(Debug, Clone)]
pub struct PutOutcome {
    pub result: PutResult,
    pub article: Article,
    /// Sections whose feeds changed (the old and the new one when the section moved).
    pub changed_sections: Vec<String>,
}

/// Position in the newest-first article order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleCursor {
    pub published_ms: i64,
    pub id: String,
}

impl ArticleCursor {
    /// Opaque text form used in `next_cursor`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.published_ms, self.id))
    }

    /// Reads a cursor produced by [`encode`](Self::encode).
    pub fn decode(s: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        let (ms, id) = raw.split_once(':')?;
        Some(Self {
            published_ms: ms.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ArticlePage {
    pub items: Vec<Article>,
    pub next: Option<ArticleCursor>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ArticleRow {
    id: String,
    section: String,
    title: String,
    url: String,
    content_html: String,
    summary: String,
    author: Option<String>,
    image_url: Option<String>,
    image_caption: Option<String>,
    tags: String,
    published_at: i64,
    updated_at: Option<i64>,
    visible_at: i64,
    content_hash: String,
    source: String,
    created_at: i64,
    modified_at: i64,
}

pub(super) const COLUMNS: &str = "id, section, title, url, content_html, summary, author, image_url, \
    image_caption, tags, published_at, updated_at, visible_at, content_hash, source, created_at, \
    modified_at";

impl From<ArticleRow> for Article {
    fn from(r: ArticleRow) -> Self {
        Article {
            id: r.id,
            section: r.section,
            title: r.title,
            url: r.url,
            content_html: r.content_html,
            summary: r.summary,
            author: r.author,
            image: r.image_url.map(|url| Image {
                url,
                caption: r.image_caption,
            }),
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            published_at: from_ms(r.published_at),
            updated_at: r.updated_at.map(from_ms),
            content_hash: r.content_hash,
            source: r.source,
            visible_at: from_ms(r.visible_at),
            created_at: from_ms(r.created_at),
            modified_at: from_ms(r.modified_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Existing {
    section: String,
    content_hash: String,
    retracted_at: Option<i64>,
    created_at: i64,
}

/// Binds `$1`…`$17` of the article insert and update: the article's fields, then
/// `visible_at` (publication, but never before `first_seen`), content hash, source,
/// `created_at = first_seen` and `modified_at = now`.
macro_rules! bind_article {
    ($query:expr, $a:expr, $tags:expr, $hash:expr, $first_seen:expr, $now:expr) => {
        $query
            .bind(&$a.id)
            .bind(&$a.section)
            .bind(&$a.title)
            .bind(&$a.url)
            .bind(&$a.content_html)
            .bind(&$a.summary)
            .bind(&$a.author)
            .bind($a.image.as_ref().map(|i| i.url.as_str()))
            .bind($a.image.as_ref().and_then(|i| i.caption.as_deref()))
            .bind(&$tags)
            .bind($crate::clock::to_ms($a.published_at))
            .bind($a.updated_at.map($crate::clock::to_ms))
            .bind($crate::clock::to_ms($a.published_at).max($first_seen))
            .bind(&$hash)
            .bind(&$a.source)
            .bind($first_seen)
            .bind($now)
    };
}

pub(super) use bind_article;

/// Rewrites a stored article with the 17 values of [`bind_article!`] (and brings a retracted
/// one back); one article here, each changed one of a batch in `article_bulk_sqlite`.
pub(super) const UPDATE_ARTICLE: &str = "UPDATE articles SET section = $2, title = $3, url = $4,
        content_html = $5, summary = $6, author = $7, image_url = $8, image_caption = $9,
        tags = $10, published_at = $11, updated_at = $12, visible_at = $13, content_hash = $14,
        source = $15, created_at = $16, modified_at = $17, retracted_at = NULL
     WHERE id = $1";

impl Store {
    /// Stores `a`: created, updated, or left alone when its content hash is unchanged.
    /// A retracted article sent again comes back as created.
    #[tracing::instrument(skip_all, fields(id = %a.id))]
    pub async fn put_article(
        &self,
        a: &NewArticle,
        now: DateTime<Utc>,
    ) -> anyhow::Result<PutOutcome> {
        let hash = a.content_hash();
        let now_ms = to_ms(now);
        let tags = serde_json::to_string(&a.tags).context("encode tags")?;
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let (result, old_section) = write_tx!(self, |tx| {
            let insert = sqlx::query(
                "INSERT INTO articles (id, section, title, url, content_html, summary, author,
                    image_url, image_caption, tags, published_at, updated_at, visible_at,
                    content_hash, source, created_at, modified_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                 ON CONFLICT (id) DO NOTHING",
            );
            let inserted = bind_article!(insert, a, tags, hash, now_ms, now_ms)
                .execute(&mut *tx)
                .await
                .context("insert article")?
                .rows_affected()
                == 1;
            let outcome = if inserted {
                (PutResult::Created, None)
            } else {
                let existing: Existing = sqlx::query_as(&format!(
                    "SELECT section, content_hash, retracted_at, created_at FROM articles WHERE id = $1{lock}"
                ))
                .bind(&a.id)
                .fetch_one(&mut *tx)
                .await
                .context("read existing article")?;
                if existing.retracted_at.is_none() && existing.content_hash == hash {
                    (PutResult::Unchanged, Some(existing.section))
                } else {
                    let revived = existing.retracted_at.is_some();
                    // A revived article counts as new for digests; otherwise it keeps its
                    // first ingest time so that an edit is not mailed again.
                    let first_seen = if revived { now_ms } else { existing.created_at };
                    let update = sqlx::query(UPDATE_ARTICLE);
                    bind_article!(update, a, tags, hash, first_seen, now_ms)
                        .execute(&mut *tx)
                        .await
                        .context("update article")?;
                    let result = if revived {
                        PutResult::Created
                    } else {
                        PutResult::Updated
                    };
                    (result, (!revived).then_some(existing.section))
                }
            };
            tx.commit().await.context("commit article")?;
            outcome
        });
        let article = self
            .get_article(&a.id)
            .await?
            .context("article vanished after put")?;
        let mut changed_sections = Vec::new();
        if result != PutResult::Unchanged {
            changed_sections.push(a.section.clone());
            if let Some(old) = old_section
                && old != a.section
            {
                changed_sections.push(old);
            }
        }
        Ok(PutOutcome {
            result,
            article,
            changed_sections,
        })
    }

    /// A non-retracted article by id, visible or scheduled.
    pub async fn get_article(&self, id: &str) -> anyhow::Result<Option<Article>> {
        let sql = format!("SELECT {COLUMNS} FROM articles WHERE id = $1 AND retracted_at IS NULL");
        let row: Option<ArticleRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .context("get article"))?;
        Ok(row.map(Into::into))
    }

    /// Retracts an article; returns its section, or `None` when there was nothing to retract.
    #[tracing::instrument(skip_all, fields(id))]
    pub async fn retract_article(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<String>> {
        write_tx!(self, |tx| {
            let section: Option<String> = sqlx::query_scalar(
                "UPDATE articles SET retracted_at = $2, modified_at = $2
                 WHERE id = $1 AND retracted_at IS NULL RETURNING section",
            )
            .bind(id)
            .bind(to_ms(now))
            .fetch_optional(&mut *tx)
            .await
            .context("retract article")?;
            tx.commit().await.context("commit retraction")?;
            Ok(section)
        })
    }

    /// Newest-first page of non-retracted articles, optionally of one section; with
    /// `visible_at = Some(now)` only those published by `now`.
    pub async fn list_articles(
        &self,
        section: Option<&str>,
        visible_at: Option<DateTime<Utc>>,
        limit: u32,
        cursor: Option<&ArticleCursor>,
    ) -> anyhow::Result<ArticlePage> {
        let mut sql = format!("SELECT {COLUMNS} FROM articles WHERE retracted_at IS NULL");
        let mut n = 0;
        let mut next_param = || {
            n += 1;
            format!("${n}")
        };
        if section.is_some() {
            sql.push_str(&format!(" AND section = {}", next_param()));
        }
        if visible_at.is_some() {
            sql.push_str(&format!(" AND published_at <= {}", next_param()));
        }
        if cursor.is_some() {
            let (ms, id) = (next_param(), next_param());
            sql.push_str(&format!(
                " AND (published_at < {ms} OR (published_at = {ms} AND id < {id}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY published_at DESC, id DESC LIMIT {}",
            next_param()
        ));
        let fetch = i64::from(limit) + 1;
        let rows: Vec<ArticleRow> = read_pool!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            if let Some(s) = section {
                q = q.bind(s);
            }
            if let Some(t) = visible_at {
                q = q.bind(to_ms(t));
            }
            if let Some(c) = cursor {
                q = q.bind(c.published_ms).bind(c.id.as_str());
            }
            q.bind(fetch).fetch_all(p).await.context("list articles")
        })?;
        let mut items: Vec<Article> = rows.into_iter().map(Into::into).collect();
        let next = if items.len() as i64 > i64::from(limit) {
            items.truncate(limit as usize);
            items.last().map(|a| ArticleCursor {
                published_ms: to_ms(a.published_at),
                id: a.id.clone(),
            })
        } else {
            None
        };
        Ok(ArticlePage { items, next })
    }

    /// The earliest publication instant after `now` among non-retracted articles.
    pub async fn next_publication_after(
        &self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = read_pool!(self, |p| {
            sqlx::query_scalar(
            "SELECT MIN(published_at) FROM articles WHERE retracted_at IS NULL AND published_at > $1"
        )
        .bind(to_ms(now))
        .fetch_one(p)
        .await
        .context("next scheduled publication")
        })?;
        Ok(ms.map(from_ms))
    }

    /// Sections with articles whose publication instant lies in `(after, until]`.
    pub async fn sections_published_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT DISTINCT section FROM articles
             WHERE retracted_at IS NULL AND published_at > $1 AND published_at <= $2"
        )
        .bind(to_ms(after))
        .bind(to_ms(until))
        .fetch_all(p)
        .await
        .context("sections published between"))
    }

    /// Number of non-retracted articles (tests and metrics).
    pub async fn count_articles(&self) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM articles WHERE retracted_at IS NULL"
        )
        .fetch_one(p)
        .await
        .context("count articles"))
    }
}
