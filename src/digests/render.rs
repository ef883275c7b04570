//! Digest rendering: templates compiled once at start; the article part rendered once per
//! distinct article list and locale, only the short wrapper per subscriber.

use std::{collections::HashMap, path::Path, sync::Mutex};

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::selection::Picked;
use crate::{
    domain::{Article, Section},
    mail::templates::builtin,
};

/// A rendered digest.
#[derive(Debug, Clone)]
pub struct RenderedDigest {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The head of a digest: the site's title, and its logo and accent colour when set.
#[derive(Debug, Clone, Copy)]
pub struct Masthead<'a> {
    pub title: &'a str,
    pub logo_url: Option<&'a str>,
    /// `#rrggbb` (validated when saved).
    pub accent: Option<&'a str>,
}

impl<'a> Masthead<'a> {
    /// Just a title.
    pub fn titled(title: &'a str) -> Self {
        Self {
            title,
            logo_url: None,
            accent: None,
        }
    }

    /// The masthead of `brand`.
    pub fn of(brand: &'a crate::branding::Brand) -> Self {
        Self {
            title: &brand.title,
            logo_url: brand.logo_url.as_deref(),
            accent: brand.accent.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ArticleItem<'a> {
    title: &'a str,
    url: &'a str,
    summary: &'a str,
    author: Option<&'a str>,
    published: String,
}

#[derive(Serialize)]
struct SectionBlock<'a> {
    slug: &'a str,
    title: &'a str,
    articles: Vec<ArticleItem<'a>>,
}

/// Shared article parts, keyed by locale and article ids; bounded.
type PartCache = HashMap<(String, Vec<String>), (String, String)>;
const PART_CACHE_MAX: usize = 256;

/// Compiled digest templates.
pub struct DigestRenderer {
    env: Environment<'static>,
    tz: Tz,
    parts: Mutex<PartCache>,
}

fn pick_locale(locale: &str) -> &'static str {
    if locale.to_ascii_lowercase().starts_with("en") {
        "en"
    } else {
        "zh-CN"
    }
}

/// A date as people read it in `locale`.
pub fn human_date(t: DateTime<Utc>, tz: Tz, locale: &str, with_time: bool) -> String {
    let local = t.with_timezone(&tz);
    match (pick_locale(locale), with_time) {
        ("en", false) => local.format("%-d %b %Y").to_string(),
        ("en", true) => local.format("%-d %b %Y %H:%M").to_string(),
        (_, false) => local.format("%Y年%-m月%-d日").to_string(),
        (_, true) => local.format("%Y年%-m月%-d日 %H:%M").to_string(),
    }
}

/// The shipped digest templates of every locale in [`crate::mail::templates::LOCALES`].
const BUILTIN: &[(&str, &str)] = builtin![
    "digest_articles.zh-CN.html",
    "digest_articles.zh-CN.txt",
    "digest.zh-CN.html",
    "digest.zh-CN.txt",
    "digest_subject.zh-CN.txt",
    "digest_articles.en.html",
    "digest_articles.en.txt",
    "digest.en.html",
    "digest.en.txt",
    "digest_subject.en.txt",
];

impl DigestRenderer {
    /// Loads and compiles every digest template from `dir`; a file missing there falls back to
    /// the copy built into the binary (as the page templates do), a broken one is an error.
    pub fn load(dir: &Path, tz: Tz) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_formatter(crate::mail::templates::html_formatter);
        for (name, builtin) in BUILTIN {
            let path = dir.join(name);
            let source = if path.is_file() {
                std::fs::read_to_string(&path)
                    .with_context(|| format!("read template {}", path.display()))?
            } else {
                (*builtin).to_owned()
            };
            env.add_template_owned(*name, source)
                .with_context(|| format!("compile template {}", path.display()))?;
        }
        Ok(Self {
            env,
            tz,
            parts: Mutex::new(HashMap::new()),
        })
    }

    fn article_parts(
        &self,
        locale: &str,
        sections: &[Section],
        picked: &Picked,
    ) -> anyhow::Result<(String, String)> {
        let key = (
            locale.to_owned(),
            picked
                .articles()
                .iter()
                .map(|a| a.id.clone())
                .collect::<Vec<_>>(),
        );
        if let Some(p) = self.parts.lock().expect("cache lock").get(&key) {
            return Ok(p.clone());
        }
        // In the order the selection decided (sections grouped, newest first within each).
        let (html, text) = self.render_parts(locale, sections, picked.by_section())?;
        let mut cache = self.parts.lock().expect("cache lock");
        if cache.len() >= PART_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (html.clone(), text.clone()));
        Ok((html, text))
    }

    /// The article part (HTML, text) for `groups` of articles, each `(section slug, articles)`.
    fn render_parts<'a>(
        &self,
        locale: &str,
        sections: &'a [Section],
        groups: impl Iterator<Item = (&'a str, &'a [&'a Article])>,
    ) -> anyhow::Result<(String, String)> {
        let blocks: Vec<SectionBlock> = groups
            .map(|(slug, articles)| SectionBlock {
                slug,
                title: sections
                    .iter()
                    .find(|s| s.slug == slug)
                    .map_or(slug, |s| s.title.as_str()),
                articles: articles
                    .iter()
                    .map(|a| ArticleItem {
                        title: &a.title,
                        url: &a.url,
                        summary: &a.summary,
                        author: a.author.as_deref(),
                        published: human_date(a.published_at, self.tz, locale, true),
                    })
                    .collect(),
            })
            .collect();
        let ctx = context! { sections => Value::from(minijinja::value::Serde(&blocks)) };
        let html = self
            .env
            .get_template(&format!("digest_articles.{locale}.html"))?
            .render(&ctx)?;
        let text = self
            .env
            .get_template(&format!("digest_articles.{locale}.txt"))?
            .render(&ctx)?;
        Ok((html, text))
    }

    /// The article part of a digest holding `articles` (grouped by section as given), as the
    /// mail's HTML: the console's preview shows exactly what a digest would.
    pub fn articles_html(
        &self,
        locale: &str,
        sections: &[Section],
        articles: &[&Article],
    ) -> anyhow::Result<String> {
        let groups = articles
            .chunk_by(|a, b| a.section == b.section)
            .map(|chunk| (chunk[0].section.as_str(), chunk));
        Ok(self.render_parts(pick_locale(locale), sections, groups)?.0)
    }

    /// Renders one subscriber's digest.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        locale: &str,
        masthead: &Masthead<'_>,
        schedule_name: &str,
        when: DateTime<Utc>,
        sections: &[Section],
        picked: &Picked,
        manage_url: &str,
        unsubscribe_url: &str,
    ) -> anyhow::Result<RenderedDigest> {
        let locale = pick_locale(locale);
        let (articles_html, articles_text) = self.article_parts(locale, sections, picked)?;
        let site_title = masthead.title;
        let (logo_url, accent) = (masthead.logo_url, masthead.accent);
        let date = human_date(when, self.tz, locale, false);
        let subject = self
            .env
            .get_template(&format!("digest_subject.{locale}.txt"))?
            .render(context! { site_title, schedule_name, date => &date })?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let html = self.env.get_template(&format!("digest.{locale}.html"))?.render(context! {
            subject => &subject, site_title, schedule_name, date => &date, manage_url, unsubscribe_url,
            logo_url, accent,
            articles => Value::from_safe_string(articles_html),
        })?;
        let text = self
            .env
            .get_template(&format!("digest.{locale}.txt"))?
            .render(context! {
                site_title, schedule_name, date, manage_url, unsubscribe_url,
                articles => articles_text,
            })?;
        Ok(RenderedDigest {
            subject,
            html,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_fall_back_to_the_built_in_templates_and_present_ones_win() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("digest_subject.en.txt"),
            "Edited: {{ schedule_name }}",
        )
        .unwrap();
        let r = DigestRenderer::load(dir.path(), chrono_tz::Asia::Shanghai).unwrap();
        let when = DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap();
        let en = r
            .render(
                "en",
                &Masthead::titled("Site"),
                "Daily",
                when,
                &[],
                &Picked::default(),
                "https://m",
                "https://u",
            )
            .unwrap();
        assert_eq!(en.subject, "Edited: Daily");
        let zh = r
            .render(
                "zh-CN",
                &Masthead::titled("站点"),
                "每日摘要",
                when,
                &[],
                &Picked::default(),
                "https://m",
                "https://u",
            )
            .unwrap();
        assert!(zh.subject.contains("每日摘要"), "{}", zh.subject);
        assert!(zh.html.contains("https://u") && zh.text.contains("https://u"));

        std::fs::write(dir.path().join("digest.en.txt"), "{% if %}").unwrap();
        let Err(err) = DigestRenderer::load(dir.path(), chrono_tz::Asia::Shanghai) else {
            panic!("a broken template was accepted");
        };
        assert!(format!("{err:#}").contains("digest.en.txt"), "{err:#}");
    }
}
