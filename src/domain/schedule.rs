//! A schedule: when mail goes out and what it holds (SPEC §6). A `digest` schedule fires at
//! each instant of its cron; an `instant` one within its window of a publication.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::ScheduleKind;

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Schedule {
    pub slug: String,
    pub name: String,
    /// Empty for an instant schedule (answered as `null`).
    #[serde(serialize_with = "empty_as_null")]
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub send_when_empty: bool,
    pub max_articles: i64,
    #[sqlx(try_from = "String")]
    pub kind: ScheduleKind,
    /// For an instant schedule: at most one mail per subscriber per this many seconds.
    #[serde(skip)]
    pub window_seconds: Option<i64>,
    /// Latest articles of their sections in a subscriber's first mail of this schedule.
    pub first_digest_articles: i64,
    #[serde(skip)]
    pub created_at: i64,
    /// Digest: fire instants up to here have been evaluated. Instant: articles visible up to
    /// here were mailed by a run or followed by nobody.
    #[serde(skip)]
    pub checked_until: Option<i64>,
}

impl Schedule {
    /// The window of an instant schedule (`None` for a digest, or a row without one).
    pub fn window(&self) -> Option<InstantWindow> {
        match self.kind {
            ScheduleKind::Instant => self.window_seconds.and_then(InstantWindow::from_seconds),
            ScheduleKind::Digest => None,
        }
    }
}

fn empty_as_null<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        s.serialize_str(v)
    }
}

/// The editable fields of a schedule (already validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFields {
    pub name: String,
    /// Empty for an instant schedule.
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub send_when_empty: bool,
    pub max_articles: i64,
    pub kind: ScheduleKind,
    /// Set exactly when `kind` is instant.
    pub window: Option<InstantWindow>,
    pub first_digest_articles: i64,
    /// The name in each locale other than the site's (whose name is `name`), replacing the
    /// stored ones; `None` keeps those stored.
    pub names: Option<BTreeMap<String, String>>,
}

/// A schedule a subscriber may choose.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleChoice {
    pub slug: String,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    /// An instant schedule's window; `None` for a digest.
    pub window_seconds: Option<i64>,
}

impl ScheduleChoice {
    /// When its mail comes, in words of `locale`, for the member choosing it: "every day at
    /// 07:00 (Asia/Shanghai)", "within 10 minutes of a publication …"; empty when the cron
    /// does not parse (it always does once stored).
    pub fn when(&self, locale: &str) -> String {
        if let Some(w) = self.window_seconds.and_then(InstantWindow::from_seconds) {
            return super::describe::describe_window(w, locale);
        }
        super::CronSpec::parse(&self.cron)
            .map(|c| super::describe::describe(&c, &self.timezone, locale))
            .unwrap_or_default()
    }
}

/// Most latest articles a first mail may add (`first_digest_articles`).
pub const MAX_FIRST_DIGEST_ARTICLES: i64 = 50;

/// How often an instant schedule may mail one subscriber: 1 minute to 24 hours, whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstantWindow(i64);

impl InstantWindow {
    /// Shortest window: shorter would mail a busy newsroom's readers for every article.
    pub const MIN_SECONDS: i64 = 60;
    /// Longest window: longer is what a daily digest is for.
    pub const MAX_SECONDS: i64 = 86_400;

    /// Reads a duration such as `"10m"`, `"1h"`, `"90s"` or `"1h 30m"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim())
            .map_err(|e| format!("{s:?} is not a duration such as \"10m\" or \"1h\": {e}"))?;
        if d.subsec_nanos() != 0 {
            return Err(format!("{s:?} must be whole seconds"));
        }
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Self::from_seconds(secs).ok_or_else(|| format!("{s:?} must be from 1 minute to 24 hours"))
    }

    /// A window of `secs` seconds, when within bounds.
    pub fn from_seconds(secs: i64) -> Option<Self> {
        (Self::MIN_SECONDS..=Self::MAX_SECONDS)
            .contains(&secs)
            .then_some(Self(secs))
    }

    /// Its length in seconds.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// Its length in milliseconds (the storage unit of instants).
    pub fn millis(self) -> i64 {
        self.0 * 1000
    }

    /// The shortest spelling [`InstantWindow::parse`] reads back: `"10m"`, `"2h"`, `"90s"`.
    pub fn as_text(self) -> String {
        match self.0 {
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        }
    }
}

/// What an announcement's run has for `schedule`: this prefix and the article's id. No
/// schedule slug has a colon, so no run of a schedule reads like one.
pub const ANNOUNCEMENT_PREFIX: &str = "announce:";

/// The `schedule` of the run announcing `article_id`.
pub fn announcement_run_name(article_id: &str) -> String {
    format!("{ANNOUNCEMENT_PREFIX}{article_id}")
}

/// The announced article's id when `run_schedule` (a run's `schedule`) is an announcement's.
pub fn announced_article(run_schedule: &str) -> Option<&str> {
    run_schedule.strip_prefix(ANNOUNCEMENT_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_and_print_as_people_write_them() {
        for (text, secs, back) in [
            ("10m", 600, "10m"),
            ("1h", 3600, "1h"),
            ("90s", 90, "90s"),
            ("1h 30m", 5400, "90m"),
            ("24h", 86_400, "24h"),
        ] {
            let w = InstantWindow::parse(text).unwrap();
            assert_eq!((w.seconds(), w.as_text().as_str()), (secs, back), "{text}");
        }
    }

    #[test]
    fn windows_outside_a_minute_to_a_day_are_refused() {
        for bad in ["59s", "25h", "0m", "ten minutes", "", "1500ms"] {
            assert!(InstantWindow::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
