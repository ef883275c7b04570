//! `PUT /api/v1/schedules/{slug}`'s body, validated into the fields to store (the console's
//! schedule form validates through this too). Each rejection names its field.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{
    domain::{
        CronSpec, InstantWindow, MAX_FIRST_DIGEST_ARTICLES, ScheduleFields, ScheduleKind, TimeZone,
        check_text,
    },
    error::AppError,
    mail::templates::LOCALES,
};

/// `PUT /api/v1/schedules/{slug}` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// The name in the site's language.
    pub name: Option<String>,
    /// Names per locale (`{"zh-CN": …, "en": …}`); given, they replace the stored ones (an
    /// empty text removes one); absent, the other locales keep theirs.
    pub names: Option<BTreeMap<String, String>>,
    /// `"digest"` (default) or `"instant"`.
    pub kind: Option<String>,
    /// Required for a digest; not used by an instant schedule.
    pub cron: Option<String>,
    /// Required for an instant schedule: a duration such as `"10m"`.
    pub window: Option<String>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
    pub send_when_empty: Option<bool>,
    pub max_articles: Option<i64>,
    pub first_digest_articles: Option<i64>,
}

/// Default of `first_digest_articles`.
pub const FIRST_DIGEST_ARTICLES: i64 = 3;

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A name: one line of 1 to 200 characters without control characters.
fn check_name(field: &str, name: &str) -> Result<(), AppError> {
    check_text(name).map_err(|e| AppError::invalid(field, format!("{field} {e}")))?;
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::invalid(
            field,
            format!("{field} must be 1 to 200 characters"),
        ));
    }
    Ok(())
}

impl ScheduleInput {
    /// The fields to store, or the first invalid one (`AppError::Invalid` naming the field).
    /// `site_locale` is the language `name` is in.
    pub fn validate(self, default_tz: &str, site_locale: &str) -> Result<ScheduleFields, AppError> {
        let names = self.names.map(checked_names).transpose()?;
        let given = self.name.map(|n| one_line(&n));
        let name = match (given, names.as_ref().and_then(|m| m.get(site_locale))) {
            (Some(n), Some(m)) if &n != m => {
                return Err(AppError::invalid(
                    "name",
                    format!("name and names[{site_locale:?}] differ; send one of them"),
                ));
            }
            (_, Some(m)) => m.clone(),
            (n, None) => n.unwrap_or_default(),
        };
        check_name("name", &name)?;
        let kind = match self.kind.as_deref().unwrap_or("digest") {
            "digest" => ScheduleKind::Digest,
            "instant" => ScheduleKind::Instant,
            other => {
                return Err(AppError::invalid(
                    "kind",
                    format!("kind must be \"digest\" or \"instant\", not {other:?}"),
                ));
            }
        };
        let cron = self.cron.filter(|c| !c.trim().is_empty());
        let (cron, window) = match kind {
            ScheduleKind::Digest => {
                if self.window.is_some() {
                    return Err(AppError::invalid(
                        "window",
                        "window is only for kind \"instant\" (a digest fires on its cron)",
                    ));
                }
                let cron = cron.ok_or_else(|| AppError::invalid("cron", "cron is required"))?;
                let cron = CronSpec::parse(&cron).map_err(|e| AppError::invalid("cron", e))?;
                (cron.as_str().to_owned(), None)
            }
            ScheduleKind::Instant => {
                if cron.is_some() {
                    return Err(AppError::invalid(
                        "cron",
                        "cron is not used by kind \"instant\" (its window says when it mails)",
                    ));
                }
                let w = self.window.ok_or_else(|| {
                    AppError::invalid(
                        "window",
                        "window is required for kind \"instant\" (e.g. \"10m\")",
                    )
                })?;
                let w = InstantWindow::parse(&w)
                    .map_err(|e| AppError::invalid("window", format!("window {e}")))?;
                (String::new(), Some(w))
            }
        };
        let timezone = self.timezone.unwrap_or_else(|| default_tz.to_owned());
        let tz = TimeZone::parse(&timezone).map_err(|e| AppError::invalid("timezone", e))?;
        let max_articles = self.max_articles.unwrap_or(20);
        if !(1..=500).contains(&max_articles) {
            return Err(AppError::invalid(
                "max_articles",
                "max_articles must be between 1 and 500",
            ));
        }
        let first = self.first_digest_articles.unwrap_or(FIRST_DIGEST_ARTICLES);
        if !(0..=MAX_FIRST_DIGEST_ARTICLES).contains(&first) {
            return Err(AppError::invalid(
                "first_digest_articles",
                format!("first_digest_articles must be between 0 and {MAX_FIRST_DIGEST_ARTICLES}"),
            ));
        }
        Ok(ScheduleFields {
            name,
            cron,
            timezone: tz.name().to_owned(),
            enabled: self.enabled.unwrap_or(true),
            send_when_empty: self.send_when_empty.unwrap_or(false),
            max_articles,
            kind,
            window,
            first_digest_articles: first,
            // The site language's name is `name` itself, stored with the schedule.
            names: names.map(|mut m| {
                m.remove(site_locale);
                m
            }),
        })
    }
}

/// `names` with known locales only, each a valid one-line name; empty texts dropped (so that
/// sending one removes that locale's name).
fn checked_names(map: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, AppError> {
    let mut out = BTreeMap::new();
    for (locale, text) in map {
        if !LOCALES.contains(&locale.as_str()) {
            return Err(AppError::invalid(
                "names",
                format!(
                    "names has unknown locale {locale:?}; locales: {}",
                    LOCALES.join(", ")
                ),
            ));
        }
        let text = one_line(&text);
        if text.is_empty() {
            continue;
        }
        check_name(&format!("names[{locale:?}]"), &text)?;
        out.insert(locale, text);
    }
    Ok(out)
}
