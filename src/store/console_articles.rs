//! The console's article list: every article, retracted ones included, filtered by title,
//! section and status, newest first, a keyset page at a time (fast at any depth).

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{
    ArticleCursor, Store,
    articles::{ArticleRow, COLUMNS},
};
use crate::{
    clock::{from_ms, to_ms},
    domain::Article,
};

/// Which articles the console list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleShown {
    /// Live and published by now.
    Published,
    /// Live, with a publication time still to come.
    Scheduled,
    /// Taken out of feeds and digests.
    Retracted,
}

/// The console list's filters.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    /// Part of the title, any case.
    pub title: Option<String>,
    pub section: Option<String>,
    pub shown: Option<ArticleShown>,
}

/// An article as the console sees it: also when retracted.
#[derive(Debug, Clone)]
pub struct ConsoleArticle {
    pub article: Article,
    pub retracted_at: Option<DateTime<Utc>>,
}

/// One page of the console list.
#[derive(Debug, Clone)]
pub struct ConsoleArticlePage {
    pub items: Vec<ConsoleArticle>,
    pub next: Option<ArticleCursor>,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    article: ArticleRow,
    retracted_at: Option<i64>,
}

impl From<Row> for ConsoleArticle {
    fn from(r: Row) -> Self {
        Self {
            article: r.article.into(),
            retracted_at: r.retracted_at.map(from_ms),
        }
    }
}

/// `s` as a LIKE pattern matching it anywhere, its wildcards taken literally.
fn contains_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Newest-first page of articles matching `filter` as of `now`, after `cursor`.
    #[tracing::instrument(skip_all)]
    pub async fn console_articles(
        &self,
        filter: &ArticleFilter,
        now: DateTime<Utc>,
        limit: u32,
        cursor: Option<&ArticleCursor>,
    ) -> anyhow::Result<ConsoleArticlePage> {
        let mut sql = format!("SELECT {COLUMNS}, retracted_at FROM articles WHERE 1 = 1");
        let mut n = 0;
        let mut next_param = || {
            n += 1;
            format!("${n}")
        };
        let pattern = filter.title.as_deref().map(contains_pattern);
        if pattern.is_some() {
            sql.push_str(&format!(
                " AND LOWER(title) LIKE {} ESCAPE '\\'",
                next_param()
            ));
        }
        if filter.section.is_some() {
            sql.push_str(&format!(" AND section = {}", next_param()));
        }
        match filter.shown {
            Some(ArticleShown::Published) => sql.push_str(&format!(
                " AND retracted_at IS NULL AND published_at <= {}",
                next_param()
            )),
            Some(ArticleShown::Scheduled) => sql.push_str(&format!(
                " AND retracted_at IS NULL AND published_at > {}",
                next_param()
            )),
            Some(ArticleShown::Retracted) => sql.push_str(" AND retracted_at IS NOT NULL"),
            None => {}
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
        let rows: Vec<Row> = read_pool!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            if let Some(pat) = &pattern {
                q = q.bind(pat.as_str());
            }
            if let Some(s) = &filter.section {
                q = q.bind(s.as_str());
            }
            if matches!(
                filter.shown,
                Some(ArticleShown::Published | ArticleShown::Scheduled)
            ) {
                q = q.bind(to_ms(now));
            }
            if let Some(c) = cursor {
                q = q.bind(c.published_ms).bind(c.id.as_str());
            }
            q.bind(fetch)
                .fetch_all(p)
                .await
                .context("console article list")
        })?;
        let mut items: Vec<ConsoleArticle> = rows.into_iter().map(Into::into).collect();
        let next = if items.len() as i64 > i64::from(limit) {
            items.truncate(limit as usize);
            items.last().map(|a| ArticleCursor {
                published_ms: to_ms(a.article.published_at),
                id: a.article.id.clone(),
            })
        } else {
            None
        };
        Ok(ConsoleArticlePage { items, next })
    }

    /// An article by id, retracted or not.
    pub async fn console_article(&self, id: &str) -> anyhow::Result<Option<ConsoleArticle>> {
        let sql = format!("SELECT {COLUMNS}, retracted_at FROM articles WHERE id = $1");
        let row: Option<Row> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .context("get article, retracted or not"))?;
        Ok(row.map(Into::into))
    }
}
