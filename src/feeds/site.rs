//! Site-wide facts every feed needs (from config, once) and the URLs and ids built on them.

use std::fmt::Write;

use super::{identity::TagBase, urls::absolute_url};
use crate::config::Config;

/// The three feed formats of SPEC §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    /// Every format, in the order pages list them.
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// File extension in `/feeds/{section}.{ext}`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    /// Media type without parameters (autodiscovery links, `atom:link type`).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }

    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    /// Short label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Format::Rss => "RSS",
            Format::Atom => "Atom",
            Format::Json => "JSON Feed",
        }
    }
}

/// What feeds share: site title, public base URL, language, zone, hub, sizes.
#[derive(Debug, Clone)]
pub struct Site {
    pub title: String,
    /// `site.base_url` normalised, without a trailing slash.
    base: String,
    /// `site.home_url` (else `base_url`), absolute: the feeds' channel link.
    home: String,
    /// The fixed part of every `tag:` id, stored in the database (see `identity`).
    ids: TagBase,
    pub language: String,
    pub tz: chrono_tz::Tz,
    pub hub: Option<String>,
    pub items: u32,
    pub max_age_seconds: u32,
}

impl Site {
    /// Reads what feeds need from a validated config and the database's fixed id base.
    pub fn from_config(config: &Config, ids: TagBase) -> Self {
        let base = url::Url::parse(&config.site.base_url).expect("validated at load");
        let base = base.as_str().trim_end_matches('/').to_owned();
        let home = (config.site.home_url.as_deref())
            .and_then(absolute_url)
            .unwrap_or_else(|| format!("{base}/"));
        Self {
            title: config.site.title.clone(),
            base,
            home,
            ids,
            language: config.site.language.clone(),
            tz: config.site_timezone().0,
            hub: config.feeds.websub_hub.as_deref().and_then(absolute_url),
            items: config.feeds.items,
            max_age_seconds: config.feeds.max_age_seconds,
        }
    }

    /// `path` (starting with `/`) made absolute on `site.base_url`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Where a feed is served, which is also its self link and WebSub topic.
    pub fn feed_url(&self, slug: &str, format: Format) -> String {
        self.url(&feed_path(slug, format))
    }

    /// The organisation's own site (`site.home_url`, else `base_url`): every feed's channel
    /// link, where a reader's "visit website" goes.
    pub fn home_url(&self) -> &str {
        &self.home
    }

    /// Name of the `all` feed, in the site's language.
    pub fn all_title(&self) -> String {
        if self.language.starts_with("zh") {
            "全部栏目".to_owned()
        } else {
            "All sections".to_owned()
        }
    }

    /// Title of a feed: the site, then the section.
    pub fn feed_title(&self, section_title: &str) -> String {
        format!("{} - {section_title}", self.title)
    }

    /// A feed's permanent id.
    pub fn feed_id(&self, slug: &str) -> String {
        self.ids.id(&format!("feed/{slug}"))
    }

    /// An article's permanent id in every feed: derived from its id and the database's fixed
    /// authority and date alone, so that a new URL, title, section or `base_url` never makes
    /// readers show it twice.
    pub fn item_id(&self, article_id: &str) -> String {
        let mut specific = String::from("article/");
        // Only unreserved characters stay literal: the result is a canonical URI.
        for b in article_id.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                specific.push(b as char);
            } else {
                let _ = write!(specific, "%{b:02X}");
            }
        }
        self.ids.id(&specific)
    }
}

/// The request path of a feed.
pub fn feed_path(slug: &str, format: Format) -> String {
    format!("/feeds/{slug}.{}", format.extension())
}
