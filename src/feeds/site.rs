//! Site-wide facts every feed needs (from config, once) and the URLs and ids built on them.

use std::fmt::Write;

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

/// Year in every `tag:` id; fixed forever, or every id would change (RFC 4151 §2.1).
const TAG_YEAR: &str = "2026";

/// What feeds share: site title, public base URL, language, zone, hub, sizes.
#[derive(Debug, Clone)]
pub struct Site {
    pub title: String,
    /// `site.base_url` normalised, without a trailing slash.
    base: String,
    /// Authority of `tag:` ids: the base URL's host.
    tag_authority: String,
    pub language: String,
    pub tz: chrono_tz::Tz,
    pub hub: Option<String>,
    pub items: u32,
    pub max_age_seconds: u32,
}

impl Site {
    /// Reads what feeds need from a validated config.
    pub fn from_config(config: &Config) -> Self {
        let base = url::Url::parse(&config.site.base_url).expect("validated at load");
        let tag_authority = match base.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            // RFC 4151 allows only DNS names and e-mail addresses here.
            _ => "localhost".to_owned(),
        };
        Self {
            title: config.site.title.clone(),
            base: base.as_str().trim_end_matches('/').to_owned(),
            tag_authority,
            language: config.site.language.clone(),
            tz: config.site_timezone().0,
            hub: config
                .feeds
                .websub_hub
                .as_deref()
                .and_then(super::urls::absolute_url),
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

    /// The page a feed stands for: the index, at the section's anchor.
    pub fn page_url(&self, slug: &str) -> String {
        if slug == super::ALL {
            self.url("/")
        } else {
            self.url(&format!("/#{slug}"))
        }
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
        format!("tag:{},{TAG_YEAR}:feed/{slug}", self.tag_authority)
    }

    /// An article's permanent id in every feed: derived from its id alone, so that a new
    /// URL, title or section never makes readers show it twice.
    pub fn item_id(&self, article_id: &str) -> String {
        let mut id = format!("tag:{},{TAG_YEAR}:article/", self.tag_authority);
        // Only unreserved characters stay literal: the result is a canonical URI.
        for b in article_id.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                id.push(b as char);
            } else {
                let _ = write!(id, "%{b:02X}");
            }
        }
        id
    }
}

/// The request path of a feed.
pub fn feed_path(slug: &str, format: Format) -> String {
    format!("/feeds/{slug}.{}", format.extension())
}
