//! One feed as the renderers see it: cleaned text, absolute links, dates in the site's zone.
//! Every renderer reads the same `FeedDoc`, so the three formats always agree.

use std::{borrow::Cow, collections::HashSet};

use chrono::{DateTime, Duration, FixedOffset, Utc};

use super::{figure::lead_figure, site::Site, urls::absolute_url};
use crate::{articles::Article, domain::strip_invalid_chars};

/// An article's picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemImage {
    pub url: String,
    pub caption: Option<String>,
    /// Known from the file extension, when it is a common image type.
    pub mime: Option<&'static str>,
}

/// One entry of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Permanent id (a `tag:` URI).
    pub id: String,
    pub title: String,
    /// The canonical page, absolute.
    pub link: String,
    /// Plain text; may be empty.
    pub summary: String,
    /// Sanitised HTML, as the article has it.
    pub content_html: String,
    /// The lead image as a `<figure>` for the top of the content; empty without one (or when
    /// the content already shows it).
    pub figure_html: String,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub image: Option<ItemImage>,
    pub published: DateTime<FixedOffset>,
    /// Unique within its feed (see [`FeedDoc::new`]).
    pub updated: DateTime<FixedOffset>,
}

/// One feed: a section's or `all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedDoc {
    /// Section slug, or `all`.
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Last change of the feed's content: its Last-Modified and `updated`/`lastBuildDate`.
    pub updated: DateTime<FixedOffset>,
    pub items: Vec<Item>,
}

impl FeedDoc {
    /// Builds the feed from its articles (newest first) and its last change instant.
    pub fn new(
        site: &Site,
        slug: &str,
        title: &str,
        description: &str,
        articles: &[Article],
        last_change: DateTime<Utc>,
    ) -> Self {
        let mut seen_updated = HashSet::new();
        let items = articles
            .iter()
            .map(|a| {
                let mut item = Item::new(site, a);
                // Readers (and the W3C validator) expect distinct `updated` values; articles
                // sharing an instant are told apart by a millisecond.
                while !seen_updated.insert(item.updated) {
                    item.updated += Duration::milliseconds(1);
                }
                item
            })
            .collect();
        let title = clean(title);
        let description = clean(description);
        Self {
            slug: slug.to_owned(),
            description: if description.trim().is_empty() {
                title.clone()
            } else {
                description
            },
            title,
            updated: local(site, last_change),
            items,
        }
    }
}

impl Item {
    /// The HTML feeds carry for the item: the lead image's figure, then the content.
    pub fn full_html(&self) -> Cow<'_, str> {
        if self.figure_html.is_empty() {
            Cow::Borrowed(&self.content_html)
        } else {
            Cow::Owned(format!("{}{}", self.figure_html, self.content_html))
        }
    }

    fn new(site: &Site, a: &Article) -> Self {
        let published = a.published_at;
        // A publisher's `updated_at` before publication, or after we last received the
        // article, cannot be true; keep it within those bounds.
        let latest = published.max(a.modified_at);
        let updated = a.updated_at.unwrap_or(published).clamp(published, latest);
        let title = clean(&a.title);
        let content_html = clean(&a.content_html);
        let image = a.image.as_ref().and_then(|img| {
            let url = absolute_url(&img.url)?;
            Some(ItemImage {
                mime: image_mime(&url),
                caption: img
                    .caption
                    .as_deref()
                    .map(clean)
                    .filter(|c| !c.trim().is_empty()),
                url,
            })
        });
        Self {
            id: site.item_id(&a.id),
            title: if title.trim().is_empty() {
                untitled(&site.language).to_owned()
            } else {
                title
            },
            link: absolute_url(&a.url).unwrap_or_else(|| site.url("/")),
            summary: clean(&a.summary),
            author: a
                .author
                .as_deref()
                .map(clean)
                .filter(|s| !s.trim().is_empty()),
            tags: a
                .tags
                .iter()
                .map(|t| clean(t))
                .filter(|t| !t.trim().is_empty())
                .collect(),
            figure_html: image.as_ref().map_or_else(String::new, |img| {
                let stored = a.image.as_ref().map_or("", |i| i.url.as_str());
                lead_figure(&img.url, stored, img.caption.as_deref(), &content_html)
            }),
            content_html,
            image,
            published: local(site, published),
            updated: local(site, updated),
        }
    }
}

fn untitled(language: &str) -> &'static str {
    if language.starts_with("zh") {
        "（无标题）"
    } else {
        "(untitled)"
    }
}

/// `t` in the site's time zone, as readers should see it.
pub fn local(site: &Site, t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&site.tz).fixed_offset()
}

/// Text safe in any XML document: without the characters XML 1.0 forbids (control characters,
/// non-characters) and without U+FFFD, the mark of text already broken upstream.
pub fn clean(s: &str) -> String {
    let mut out = strip_invalid_chars(s);
    if out.contains('\u{FFFD}') {
        out.retain(|c| c != '\u{FFFD}');
    }
    out
}

/// The media type of a common image file, from the URL's path.
pub fn image_mime(url: &str) -> Option<&'static str> {
    let path = url::Url::parse(url).ok()?.path().to_ascii_lowercase();
    let ext = path.rsplit_once('.')?.1;
    Some(match ext {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_control_characters_non_characters_and_replacement_marks() {
        assert_eq!(
            clean("a\u{0}b\u{8}c\u{FFFE}d\u{FFFD}e 工会 ✊"),
            "abcde 工会 ✊"
        );
    }

    #[test]
    fn image_mime_comes_from_the_extension() {
        assert_eq!(image_mime("https://x.org/a/B.JPG?x=1"), Some("image/jpeg"));
        assert_eq!(image_mime("https://x.org/a/b"), None);
    }
}
