//! The front door's HTML in one language: each section with its latest articles and feeds,
//! and the subscribe form, through `pages/home.html` (which extends the subscription pages'
//! `pages/base.html`, so the site looks like one).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use minijinja::{context, value::Serde};
use serde::Serialize;

use super::{
    ALL,
    doc::clean,
    site::{Format, Site},
    urls::absolute_url,
};
use crate::{
    articles::Article,
    branding::Brand,
    mail::Templates,
    store::FeedSection,
    subscriptions::{base_context, choices::Catalog},
};

/// Articles listed per section.
pub const LATEST: usize = 5;

/// An article as the front door lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub title: String,
    /// Its own page, when that is an http(s) URL.
    pub url: Option<String>,
    pub published: DateTime<Utc>,
}

impl From<&Article> for Latest {
    fn from(a: &Article) -> Self {
        Self {
            title: clean(&a.title).trim().to_owned(),
            url: absolute_url(&a.url),
            published: a.published_at,
        }
    }
}

/// What the page shows, as of the feeds' last rebuild.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub sections: Vec<FeedSection>,
    /// Each section's latest visible articles, newest first.
    pub latest: HashMap<String, Vec<Latest>>,
    /// The last change of any of it: the page's Last-Modified.
    pub edited: DateTime<Utc>,
}

/// What a render needs besides the data.
pub struct Parts<'a> {
    pub site: &'a Site,
    pub templates: &'a Templates,
    pub catalog: &'a Catalog,
    /// The path prefix of `site.base_url` (empty at the root).
    pub base_path: &'a str,
    /// The organisation's own site, when it is not this one.
    pub home_url: Option<&'a str>,
}

#[derive(Serialize)]
struct FeedLink {
    url: String,
    media_type: &'static str,
    label: &'static str,
    title: String,
}

#[derive(Serialize)]
struct ArticleView {
    title: String,
    url: Option<String>,
    /// RFC 3339 in the site's zone, for `<time datetime>`.
    datetime: String,
    /// The day in the site's zone, as readers of `locale` write it.
    date: String,
}

#[derive(Serialize)]
struct SectionView {
    slug: String,
    title: String,
    description: String,
    feeds: Vec<FeedLink>,
    articles: Vec<ArticleView>,
}

/// The page in `locale`, branded `brand`.
pub fn render(
    parts: &Parts<'_>,
    data: &Data,
    locale: &str,
    brand: &Brand,
) -> anyhow::Result<String> {
    let (t, catalog, site) = (parts.templates, parts.catalog, parts.site);
    let all_title = t.text(locale, "home.all_sections");
    let all = SectionView {
        slug: ALL.to_owned(),
        feeds: feeds(site, brand, ALL, &all_title),
        title: all_title,
        description: String::new(),
        articles: Vec::new(),
    };
    let sections: Vec<SectionView> = (data.sections.iter())
        .map(|s| {
            let title = catalog.section_title(t, locale, &s.slug, &s.title);
            SectionView {
                slug: s.slug.clone(),
                description: catalog.section_description(locale, &s.slug, &s.description),
                feeds: feeds(site, brand, &s.slug, &title),
                title,
                articles: (data.latest.get(&s.slug).into_iter().flatten())
                    .map(|a| article(site, t, locale, a))
                    .collect(),
            }
        })
        .collect();
    let autodiscovery: Vec<&FeedLink> = std::iter::once(&all)
        .chain(&sections)
        .flat_map(|s| &s.feeds)
        .collect();
    let other = t.text(locale, "common.other_locale");
    let switch = format!("{}/?locale={other}", parts.base_path);
    let base = base_context(t, brand, locale, parts.base_path, &switch, &brand.title);
    let ctx = context! {
        wide => true,
        all => Serde(&all),
        sections => Serde(&sections),
        autodiscovery => Serde(&autodiscovery),
        opml_url => site.url("/feeds.opml"),
        home_url => parts.home_url,
        section_choices => Serde(catalog.section_choices(t, locale, None)),
        schedule_choices => Serde(catalog.schedule_choices(t, locale, None)),
        ..base
    };
    parts.templates.render("pages/home.html", ctx)
}

/// A section's three feeds, titled for readers of the page's language.
fn feeds(site: &Site, brand: &Brand, slug: &str, title: &str) -> Vec<FeedLink> {
    Format::ALL
        .into_iter()
        .map(|format| FeedLink {
            url: site.feed_url(slug, format),
            media_type: format.media_type(),
            label: format.label(),
            title: format!("{} - {title} ({})", brand.title, format.label()),
        })
        .collect()
}

fn article(site: &Site, t: &Templates, locale: &str, a: &Latest) -> ArticleView {
    let local = a.published.with_timezone(&site.tz);
    let day = if locale == "en" {
        local.format("%-d %b %Y")
    } else {
        local.format("%Y-%m-%d")
    };
    ArticleView {
        title: if a.title.is_empty() {
            t.text(locale, "home.untitled")
        } else {
            a.title.clone()
        },
        url: a.url.clone(),
        datetime: local.to_rfc3339(),
        date: day.to_string(),
    }
}

/// The page saying that `asked` (a `?locale=`) is no language of the site, in `locale`; its
/// switch leads to the front door in the other language.
pub fn unknown_locale(
    t: &Templates,
    brand: &Brand,
    locale: &str,
    base_path: &str,
    asked: &str,
) -> anyhow::Result<String> {
    let other = t.text(locale, "common.other_locale");
    let switch = format!("{base_path}/?locale={other}");
    let title = t.text(locale, "failed.title");
    let base = base_context(t, brand, locale, base_path, &switch, &title);
    let message = t
        .text(locale, "errors.locale_unknown")
        .replace("{value}", asked);
    t.render(
        "pages/notice.html",
        context! { lines => vec![message], error => true, ..base },
    )
}
