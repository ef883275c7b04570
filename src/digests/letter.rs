//! What one digest shows, as its templates read it: sections titled in the reader's language,
//! and for each article its lead image sized for the mail's column, its meta line (date in
//! the site's zone, author, section) and its excerpt.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::images::ImageSizes;
use crate::{
    branding::Brand,
    domain::{Article, DisplayNames, Section},
    mail::Templates,
};

/// Width of the mail's content column in CSS pixels (600 less 24 on each side): no image is
/// wider.
pub const COLUMN_PX: u32 = 552;

/// A lead image as the mail shows it.
#[derive(Debug, Serialize)]
pub(super) struct ImageView<'a> {
    url: &'a str,
    /// The caption, else the article's title.
    alt: &'a str,
    caption: Option<&'a str>,
    /// At most [`COLUMN_PX`]; the column's width when the picture's own is unknown.
    width: u32,
    /// Kept in proportion to `width`; `None` when the picture's size is unknown (mail clients
    /// then keep its proportions themselves).
    height: Option<u32>,
    /// CSS `max-width`: `100%` for a picture as wide as the column, else its own width, so
    /// that it is never enlarged while its CSS width is the column's (a percentage, so that a
    /// blocked or broken picture never widens the mail beyond a phone's screen).
    max_width: String,
}

/// One article of a digest.
#[derive(Debug, Serialize)]
pub(super) struct ArticleView<'a> {
    title: &'a str,
    url: &'a str,
    summary: &'a str,
    /// Date and time in the site's zone, author, section.
    meta: String,
    image: Option<ImageView<'a>>,
}

/// A section of a digest with its articles, newest first.
#[derive(Debug, Serialize)]
pub(super) struct SectionView<'a> {
    slug: &'a str,
    pub(super) title: String,
    articles: Vec<ArticleView<'a>>,
}

/// Who a digest is rendered for, and so which links it carries.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// A subscriber's mail: their address in the "why you get this" line, their manage and
    /// unsubscribe links, and the link to the mail's web copy (none in a preview).
    Mail {
        email: &'a str,
        manage_url: &'a str,
        unsubscribe_url: &'a str,
        web_url: Option<&'a str>,
    },
    /// The web copy: nobody's address or links, a link to subscribe instead.
    WebCopy { subscribe_url: &'a str },
}

/// Everything one digest shows.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// The reader's language (`en`, else zh-CN).
    pub locale: &'a str,
    pub brand: &'a Brand,
    /// The schedule's slug and stored name (shown in the reader's language).
    pub schedule: (&'a str, &'a str),
    /// The digest's date (its fire instant).
    pub when: DateTime<Utc>,
    /// Every section, in display order.
    pub sections: &'a [Section],
    pub names: &'a DisplayNames,
    /// The articles in mail order (grouped by section, newest first within each).
    pub articles: &'a [&'a Article],
    /// Where the site title and logo link to (`site.home_url`, else `site.base_url`).
    pub home_url: &'a str,
    pub reader: Reader<'a>,
}

/// The language a digest is written in: `en`, or `zh-CN` for anything else.
pub fn pick_locale(locale: &str) -> &'static str {
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

/// A section's title in `locale`: its stored text for that language, else (in the site's
/// language) its stored title, else the strings file's `[section_titles]`.
pub fn section_title(
    strings: &Templates,
    names: &DisplayNames,
    sections: &[Section],
    slug: &str,
    locale: &str,
) -> String {
    let stored = sections
        .iter()
        .find(|s| s.slug == slug)
        .map_or(slug, |s| s.title.as_str());
    let file = strings.lookup(locale, &format!("section_titles.{slug}"));
    names.section(slug, locale, stored, file)
}

/// A schedule's name in `locale`, by the same rule as [`section_title`].
pub fn schedule_name(
    strings: &Templates,
    names: &DisplayNames,
    slug: &str,
    stored: &str,
    locale: &str,
) -> String {
    let file = strings.lookup(locale, &format!("schedule_names.{slug}"));
    names.schedule(slug, locale, stored, file)
}

/// What the templates need to show `articles` (in mail order: grouped by section).
pub(super) struct Shelf<'s> {
    pub strings: &'s Templates,
    pub names: &'s DisplayNames,
    pub sections: &'s [Section],
    pub sizes: &'s ImageSizes,
    pub tz: Tz,
    pub locale: &'static str,
}

impl Shelf<'_> {
    /// The sections of a digest of `articles`, in the order given.
    pub(super) fn sections<'a>(&self, articles: &[&'a Article]) -> Vec<SectionView<'a>> {
        let separator = self.strings.text(self.locale, "digest.meta_separator");
        articles
            .chunk_by(|a, b| a.section == b.section)
            .map(|chunk| {
                let slug = chunk[0].section.as_str();
                let title =
                    section_title(self.strings, self.names, self.sections, slug, self.locale);
                let articles = chunk
                    .iter()
                    .map(|a| self.article(a, &title, &separator))
                    .collect();
                SectionView {
                    slug,
                    title,
                    articles,
                }
            })
            .collect()
    }

    fn article<'a>(&self, a: &'a Article, section: &str, separator: &str) -> ArticleView<'a> {
        let mut meta = vec![human_date(a.published_at, self.tz, self.locale, true)];
        meta.extend(a.author.iter().filter(|s| !s.trim().is_empty()).cloned());
        meta.push(section.to_owned());
        ArticleView {
            title: &a.title,
            url: &a.url,
            summary: &a.summary,
            meta: meta.join(separator),
            image: a.image.as_ref().map(|i| {
                let caption = i.caption.as_deref().filter(|c| !c.trim().is_empty());
                let (width, height) = fit(self.sizes.get(&i.url));
                ImageView {
                    url: &i.url,
                    alt: caption.unwrap_or(&a.title),
                    caption,
                    width,
                    height,
                    max_width: if width < COLUMN_PX {
                        format!("{width}px")
                    } else {
                        "100%".into()
                    },
                }
            }),
        }
    }
}

/// The width and height to give a picture of `size` in the column: its own size when it fits,
/// else scaled down to the column's width.
fn fit(size: Option<(u32, u32)>) -> (u32, Option<u32>) {
    match size {
        Some((w, h)) if w > 0 && h > 0 => {
            let width = w.min(COLUMN_PX);
            let height = (u64::from(h) * u64::from(width) + u64::from(w) / 2) / u64::from(w);
            (
                width,
                Some(u32::try_from(height.max(1)).unwrap_or(u32::MAX)),
            )
        }
        _ => (COLUMN_PX, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_keep_their_proportions_and_never_exceed_the_column() {
        assert_eq!(fit(Some((1200, 800))), (552, Some(368)));
        assert_eq!(fit(Some((400, 300))), (400, Some(300)));
        assert_eq!(fit(Some((5000, 10))), (552, Some(1)));
        assert_eq!(fit(None), (552, None));
        assert_eq!(fit(Some((0, 10))), (552, None));
    }

    #[test]
    fn dates_read_in_the_site_zone_and_language() {
        let t: DateTime<Utc> = "2026-03-01T00:30:00Z".parse().unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(human_date(t, tz, "zh-CN", true), "2026年3月1日 08:30");
        assert_eq!(human_date(t, tz, "en", false), "1 Mar 2026");
        assert_eq!(
            human_date(t, chrono_tz::America::New_York, "en", true),
            "28 Feb 2026 19:30"
        );
    }
}
