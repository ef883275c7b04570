//! Per-locale schedule names (`schedule_texts`) and the [`DisplayNames`] pages and mail read.

use anyhow::Context;

use super::{Store, read_pool, write_tx};
use crate::domain::{DisplayNames, TextsBySlug};

#[derive(sqlx::FromRow)]
struct NameRow {
    slug: String,
    locale: String,
    name: String,
}

impl Store {
    /// Every schedule's per-locale names, by slug then locale.
    pub async fn schedule_texts(&self) -> anyhow::Result<TextsBySlug> {
        let rows: Vec<NameRow> = read_pool!(self, |p| sqlx::query_as(
            "SELECT slug, locale, name FROM schedule_texts ORDER BY slug, locale"
        )
        .fetch_all(p)
        .await
        .context("list schedule texts"))?;
        let mut out = TextsBySlug::new();
        for r in rows {
            out.entry(r.slug).or_default().insert(r.locale, r.name);
        }
        Ok(out)
    }

    /// Sets a schedule's name in each given locale (others stay); an empty name removes it.
    pub async fn put_schedule_texts(
        &self,
        slug: &str,
        names: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            for (locale, name) in names {
                sqlx::query("DELETE FROM schedule_texts WHERE slug = $1 AND locale = $2")
                    .bind(slug)
                    .bind(locale)
                    .execute(&mut *tx)
                    .await
                    .context("clear schedule text")?;
                if !name.trim().is_empty() {
                    sqlx::query(
                        "INSERT INTO schedule_texts (slug, locale, name) VALUES ($1, $2, $3)",
                    )
                    .bind(slug)
                    .bind(locale)
                    .bind(name.trim())
                    .execute(&mut *tx)
                    .await
                    .context("store schedule text")?;
                }
            }
            tx.commit().await.context("commit schedule texts")?;
            Ok(())
        })
    }

    /// Section titles and schedule names per locale, for pages and mail in `default_locale`'s site.
    pub async fn display_names(&self, default_locale: &str) -> anyhow::Result<DisplayNames> {
        let sections = self
            .section_texts()
            .await?
            .into_iter()
            .map(|(slug, t)| (slug, t.titles))
            .collect();
        Ok(DisplayNames {
            default_locale: default_locale.to_owned(),
            sections,
            schedules: self.schedule_texts().await?,
        })
    }
}
