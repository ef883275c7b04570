//! What a digest needs to know: its run, its recipients, their watermarks, the articles.

use std::collections::HashMap;

use anyhow::Context;

use super::{
    Store,
    articles::{ArticleRow, COLUMNS},
    read_pool,
};
use crate::domain::{Article, SubscriberStatus};

/// A run as a worker needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunInfo {
    pub id: i64,
    pub schedule: String,
    pub cutoff: i64,
    pub fire_at: Option<i64>,
}

/// A subscriber as a digest needs it.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: i64,
    pub email: String,
    pub status: SubscriberStatus,
    pub locale: String,
    /// `None` = every section.
    pub sections: Option<Vec<String>>,
    /// Where the first digest starts: confirmation (or import) time.
    pub since: i64,
    pub generation: i64,
}

#[derive(sqlx::FromRow)]
struct RecipientRow {
    id: i64,
    email: String,
    status: String,
    locale: String,
    all_sections: bool,
    confirmed_at: Option<i64>,
    created_at: i64,
    generation: i64,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The run a delivery belongs to.
    pub async fn run_info(&self, id: i64) -> anyhow::Result<Option<RunInfo>> {
        read_pool!(self, |p| {
            sqlx::query_as::<_, RunInfo>(
            "SELECT id, schedule, COALESCE(cutoff, created_at) AS cutoff, fire_at FROM runs WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await
        .context("get run info")
        })
    }

    /// Subscribers by id with their sections (missing ids are left out).
    pub async fn recipients(&self, ids: &[i64]) -> anyhow::Result<Vec<Recipient>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, email, status, locale, all_sections, confirmed_at, created_at, generation
             FROM subscribers WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let rows: Vec<RecipientRow> = read_pool!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await.context("load recipients")
        })?;
        let sql = format!(
            "SELECT subscriber_id, section FROM subscriber_sections WHERE subscriber_id IN ({}) ORDER BY section",
            placeholders(1, ids.len())
        );
        let pairs: Vec<(i64, String)> = read_pool!(self, |p| {
            let mut q = sqlx::query_as(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await.context("load recipient sections")
        })?;
        let mut sections: HashMap<i64, Vec<String>> = HashMap::new();
        for (id, s) in pairs {
            sections.entry(id).or_default().push(s);
        }
        rows.into_iter()
            .map(|r| {
                Ok(Recipient {
                    sections: if r.all_sections {
                        None
                    } else {
                        Some(sections.remove(&r.id).unwrap_or_default())
                    },
                    status: SubscriberStatus::parse(&r.status)
                        .with_context(|| format!("subscriber {}", r.id))?,
                    id: r.id,
                    email: r.email,
                    locale: r.locale,
                    since: r.confirmed_at.unwrap_or(r.created_at),
                    generation: r.generation,
                })
            })
            .collect()
    }

    /// Each subscriber's watermark for `schedule` (absent = never got a digest from it).
    pub async fn watermarks(
        &self,
        schedule: &str,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, i64>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT subscriber_id, visible_until FROM watermarks WHERE schedule = $1 AND subscriber_id IN ({})",
            placeholders(2, ids.len())
        );
        let rows: Vec<(i64, i64)> = read_pool!(self, |p| {
            let mut q = sqlx::query_as(&sql).bind(schedule);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await.context("load watermarks")
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Articles that became visible in `(after, cutoff]` and are still published at `now`,
    /// of `sections` (`None` = all), newest first, at most `limit`: the candidates of a digest,
    /// among which the digest selection rule decides.
    pub async fn digest_articles(
        &self,
        sections: Option<&[String]>,
        after: i64,
        cutoff: i64,
        now: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Article>> {
        // Whole rows in one query: a digest of 20 articles is one statement, not 21.
        let mut sql = format!(
            "SELECT {COLUMNS} FROM articles WHERE retracted_at IS NULL AND visible_at > $1 AND visible_at <= $2 AND published_at <= $3",
        );
        if let Some(s) = sections {
            if s.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(" AND section IN ({})", placeholders(5, s.len())));
        }
        sql.push_str(" ORDER BY published_at DESC, id DESC LIMIT $4");
        let rows: Vec<ArticleRow> = read_pool!(self, |p| {
            let mut q = sqlx::query_as(&sql)
                .bind(after)
                .bind(cutoff)
                .bind(now)
                .bind(limit);
            for s in sections.unwrap_or_default() {
                q = q.bind(s.as_str());
            }
            q.fetch_all(p).await.context("select digest articles")
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
