//! Sections as the console and the admin API manage them: per-locale titles and
//! descriptions, the display order, and the figures of the console's list.

use std::collections::BTreeMap;

use anyhow::Context;

use super::{Store, audit::insert_audit};
use crate::domain::Audit;

/// A section's texts by locale (`zh-CN`, `en`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SectionTexts {
    pub titles: BTreeMap<String, String>,
    pub descriptions: BTreeMap<String, String>,
}

/// What the console's section list shows besides the section itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectionFigures {
    /// Live articles (scheduled ones included): the ones that keep it from being deleted.
    pub articles: i64,
    /// Active subscribers who get it (chosen, or all sections).
    pub subscribers: i64,
}

#[derive(sqlx::FromRow)]
struct TextRow {
    slug: String,
    locale: String,
    title: String,
    description: String,
}

#[derive(sqlx::FromRow)]
struct CountRow {
    slug: String,
    n: i64,
}

impl Store {
    /// Every section's per-locale texts, by slug.
    pub async fn section_texts(&self) -> anyhow::Result<BTreeMap<String, SectionTexts>> {
        let rows: Vec<TextRow> = read_pool!(self, |p| sqlx::query_as(
            "SELECT slug, locale, title, description FROM section_texts ORDER BY slug, locale"
        )
        .fetch_all(p)
        .await
        .context("list section texts"))?;
        let mut out: BTreeMap<String, SectionTexts> = BTreeMap::new();
        for r in rows {
            let t = out.entry(r.slug).or_default();
            t.titles.insert(r.locale.clone(), r.title);
            if !r.description.is_empty() {
                t.descriptions.insert(r.locale, r.description);
            }
        }
        Ok(out)
    }

    /// Replaces the per-locale texts of `slug` (a title per locale, its description if any),
    /// recording `audit` in the same transaction when given.
    #[tracing::instrument(skip_all, fields(slug))]
    pub async fn put_section_texts(
        &self,
        slug: &str,
        texts: &SectionTexts,
        audit: Option<&Audit>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM section_texts WHERE slug = $1")
                .bind(slug)
                .execute(&mut *tx)
                .await
                .context("clear section texts")?;
            for (locale, title) in &texts.titles {
                sqlx::query(
                    "INSERT INTO section_texts (slug, locale, title, description)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(slug)
                .bind(locale)
                .bind(title)
                .bind(texts.descriptions.get(locale).map_or("", String::as_str))
                .execute(&mut *tx)
                .await
                .context("insert section text")?;
            }
            if let Some(a) = audit {
                insert_audit!(tx, a, now_ms)?;
            }
            tx.commit().await.context("commit section texts")?;
        });
        Ok(())
    }

    /// Live articles and active subscribers of every section, by slug.
    pub async fn section_figures(&self) -> anyhow::Result<BTreeMap<String, SectionFigures>> {
        let (articles, chosen, everyone): (Vec<CountRow>, Vec<CountRow>, i64) =
            read_pool!(self, |p| {
                let articles = sqlx::query_as(
                    "SELECT section AS slug, COUNT(*) AS n FROM articles
                     WHERE retracted_at IS NULL GROUP BY section",
                )
                .fetch_all(p)
                .await
                .context("count articles by section")?;
                let chosen = sqlx::query_as(
                    "SELECT ss.section AS slug, COUNT(*) AS n
                     FROM subscriber_sections ss JOIN subscribers s ON s.id = ss.subscriber_id
                     WHERE s.status = 'active' AND NOT s.all_sections GROUP BY ss.section",
                )
                .fetch_all(p)
                .await
                .context("count subscribers by section")?;
                let everyone = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM subscribers WHERE status = 'active' AND all_sections",
                )
                .fetch_one(p)
                .await
                .context("count subscribers of every section")?;
                (articles, chosen, everyone)
            });
        let mut out: BTreeMap<String, SectionFigures> = BTreeMap::new();
        for r in articles {
            out.entry(r.slug).or_default().articles = r.n;
        }
        for r in chosen {
            out.entry(r.slug).or_default().subscribers = r.n;
        }
        for s in self.list_sections().await? {
            out.entry(s.slug).or_default().subscribers += everyone;
        }
        Ok(out)
    }

    /// Moves `slug` one place up (`up`) or down in the display order, numbering every section
    /// 0, 1, 2… in the new order; `false` when it was already first (last) or is unknown.
    #[tracing::instrument(skip_all, fields(slug))]
    pub async fn move_section(
        &self,
        slug: &str,
        up: bool,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let mut order: Vec<String> =
                sqlx::query_scalar("SELECT slug FROM sections ORDER BY position, slug")
                    .fetch_all(&mut *tx)
                    .await
                    .context("read section order")?;
            let Some(i) = order.iter().position(|s| s == slug) else {
                return Ok(false);
            };
            let j = if up { i.checked_sub(1) } else { Some(i + 1) };
            let Some(j) = j.filter(|&j| j < order.len()) else {
                return Ok(false);
            };
            order.swap(i, j);
            for (pos, s) in order.iter().enumerate() {
                sqlx::query(
                    "UPDATE sections SET position = $2, updated_at = $3
                     WHERE slug = $1 AND position <> $2",
                )
                .bind(s)
                .bind(pos as i64)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("renumber sections")?;
            }
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit section order")?;
            Ok(true)
        })
    }
}
