//! The list entries of the configuration: `[[sections]]`, `[[schedules]]`, `[[sources]]`,
//! and the sections and schedules a fresh install starts with.

use std::path::PathBuf;

use serde::Deserialize;

use crate::domain::{InstantWindow, ScheduleFields, ScheduleKind, Section, SourceType};

/// One `[[sections]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionConfig {
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// One `[[schedules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub slug: String,
    pub name: String,
    /// Required for `kind = "digest"`; not used by instant schedules.
    #[serde(default)]
    pub cron: String,
    /// Defaults to `site.timezone`.
    pub timezone: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub send_when_empty: bool,
    #[serde(default = "default_max_articles")]
    pub max_articles: u32,
    /// `"digest"` (fires on `cron`) or `"instant"` (mails within `window` of a publication).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// For `kind = "instant"`: at most one mail per subscriber per this duration (`"10m"`).
    #[serde(default)]
    pub window: Option<String>,
    /// Latest articles of their sections in a new subscriber's first mail.
    #[serde(default = "default_first_digest_articles")]
    pub first_digest_articles: u32,
    /// Per-locale names (`names = { en = "Daily digest" }`); `name` is the site language's.
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
}

impl SectionConfig {
    /// The section this entry seeds, at `position` in display order.
    pub fn section(&self, position: usize) -> Section {
        Section {
            slug: self.slug.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            position: position as i64,
        }
    }
}

impl ScheduleConfig {
    /// The fields this entry seeds; `default_tz` (`site.timezone`) when it names no zone.
    pub fn fields(&self, default_tz: &str, site_locale: &str) -> ScheduleFields {
        let instant = self.kind == "instant";
        ScheduleFields {
            name: self.name.clone(),
            // An instant schedule has no cron (validation refuses one given with it).
            cron: if instant {
                String::new()
            } else {
                self.cron.clone()
            },
            timezone: self
                .timezone
                .clone()
                .unwrap_or_else(|| default_tz.to_owned()),
            enabled: self.enabled,
            send_when_empty: self.send_when_empty,
            max_articles: i64::from(self.max_articles),
            kind: if instant {
                ScheduleKind::Instant
            } else {
                ScheduleKind::Digest
            },
            window: (self.window.as_deref())
                .filter(|_| instant)
                .and_then(|w| InstantWindow::parse(w).ok()),
            first_digest_articles: i64::from(self.first_digest_articles),
            // The site language's name is `name`; validation checked any entry for it agrees.
            names: Some(
                (self.names.iter())
                    .filter(|(l, _)| l.as_str() != site_locale)
                    .map(|(l, n)| (l.clone(), n.clone()))
                    .collect(),
            ),
        }
    }
}

/// One `[[sources]]` entry (SPEC §3).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    Directory {
        name: Option<String>,
        path: PathBuf,
    },
    Web {
        name: Option<String>,
        section: String,
        list_url: String,
        item_selector: String,
        title_selector: String,
        date_selector: String,
        content_selector: String,
        author_selector: Option<String>,
        #[serde(default = "default_interval")]
        interval: String,
        timezone: Option<String>,
    },
    Feed {
        name: Option<String>,
        section: String,
        url: String,
        #[serde(default = "default_interval")]
        interval: String,
    },
}

impl SourceConfig {
    /// The name the entry goes by: its `name`, else its folder or URL.
    pub fn name(&self) -> String {
        match self {
            SourceConfig::Directory { name, path } => {
                name.clone().unwrap_or_else(|| path.display().to_string())
            }
            SourceConfig::Web { name, list_url, .. } => {
                name.clone().unwrap_or_else(|| list_url.clone())
            }
            SourceConfig::Feed { name, url, .. } => name.clone().unwrap_or_else(|| url.clone()),
        }
    }

    /// Which kind of source this is.
    pub fn kind(&self) -> SourceType {
        match self {
            SourceConfig::Directory { .. } => SourceType::Directory,
            SourceConfig::Web { .. } => SourceType::Web,
            SourceConfig::Feed { .. } => SourceType::Feed,
        }
    }
}

/// Checks a CSS selector of a web source; the error says what is wrong with it.
pub fn check_selector(selector: &str) -> Result<(), String> {
    scraper::Selector::parse(selector)
        .map(|_| ())
        .map_err(|e| format!("invalid CSS selector {selector:?}: {e}"))
}

fn yes() -> bool {
    true
}
fn default_kind() -> String {
    "digest".into()
}
fn default_first_digest_articles() -> u32 {
    3
}
fn default_max_articles() -> u32 {
    20
}
fn default_interval() -> String {
    "10m".into()
}

pub(super) fn default_sections() -> Vec<SectionConfig> {
    [
        ("news", "工会要闻", "全省工会工作要闻"),
        ("notices", "通知公告", "省总工会通知与公告"),
        ("grassroots", "基层动态", "基层工会工作动态"),
        ("about", "工会简介", "关于省总工会"),
    ]
    .into_iter()
    .map(|(slug, title, description)| SectionConfig {
        slug: slug.into(),
        title: title.into(),
        description: description.into(),
    })
    .collect()
}

pub(super) fn default_schedules() -> Vec<ScheduleConfig> {
    vec![
        ScheduleConfig {
            slug: "daily".into(),
            name: "每日摘要".into(),
            cron: "0 8 * * *".into(),
            timezone: None,
            enabled: true,
            send_when_empty: false,
            max_articles: 20,
            kind: default_kind(),
            window: None,
            first_digest_articles: 3,
            names: [("en".to_owned(), "Daily digest".to_owned())].into(),
        },
        ScheduleConfig {
            slug: "weekly".into(),
            name: "每周摘要".into(),
            cron: "0 9 * * 1".into(),
            timezone: None,
            enabled: true,
            send_when_empty: false,
            max_articles: 50,
            kind: default_kind(),
            window: None,
            first_digest_articles: 3,
            names: [("en".to_owned(), "Weekly digest".to_owned())].into(),
        },
    ]
}
