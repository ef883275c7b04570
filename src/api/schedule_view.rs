//! Schedules as the admin API answers them: the stored fields, the names per locale, a
//! reading in the request's language, and when it fires next.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::ApiState;
use crate::{
    clock::to_ms,
    digests::{
        describe::{describe, describe_window},
        fire::next_instants,
        instant,
    },
    domain::{CronSpec, Schedule, ScheduleKind, TimeZone},
    error::AppError,
    mail::templates::LOCALES,
    subscriptions::supported,
};

/// How many fire instants an answer lists.
pub const NEXT_FIRES: usize = 5;

/// A schedule with `window`, `names`, `description` and `next_fire_at`.
#[derive(Serialize)]
pub struct ScheduleView {
    #[serde(flatten)]
    schedule: Schedule,
    /// An instant schedule's window as a duration (`"10m"`); `null` for a digest.
    window: Option<String>,
    /// The name in each locale that has one; the site language's is `name`.
    names: BTreeMap<String, String>,
    /// The cron (or the window) read in the request's language.
    description: String,
    /// A digest: the next [`NEXT_FIRES`] instants of its cron after now (listed for a
    /// disabled schedule too: when it would fire once enabled). An instant schedule: when its
    /// next mail goes out, if something published waits for it (at most one instant; it may
    /// be now); empty when nothing waits.
    next_fire_at: Vec<String>,
}

impl ScheduleView {
    /// The view of `schedule` at `now` in `locale`, with its stored `names` in the other
    /// locales, the site's `site_locale`, and an instant schedule's `pending` fire instant.
    pub fn new(
        schedule: Schedule,
        mut names: BTreeMap<String, String>,
        site_locale: &str,
        locale: &str,
        now: DateTime<Utc>,
        pending: Option<DateTime<Utc>>,
    ) -> Self {
        names.insert(site_locale.to_owned(), schedule.name.clone());
        let window = schedule.window();
        // Stored crons and zones were validated on the way in; a row edited by hand into
        // something unreadable still answers, with its cron as written and no instants.
        let (description, next) = match (schedule.kind, window) {
            (ScheduleKind::Instant, Some(w)) => {
                (describe_window(w, locale), pending.into_iter().collect())
            }
            _ => match (
                CronSpec::parse(&schedule.cron),
                TimeZone::parse(&schedule.timezone),
            ) {
                (Ok(cron), Ok(tz)) => (
                    describe(&cron, tz.name(), locale),
                    next_instants(&cron, tz.0, now, NEXT_FIRES),
                ),
                _ => (
                    format!("cron {} ({})", schedule.cron, schedule.timezone),
                    Vec::new(),
                ),
            },
        };
        Self {
            schedule,
            window: window.map(|w| w.as_text()),
            names,
            description,
            next_fire_at: next
                .iter()
                .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .collect(),
        }
    }
}

/// The views of `schedules` for a request in `locale`: names read once for all of them.
pub async fn views(
    state: &ApiState,
    schedules: Vec<Schedule>,
    locale: &str,
) -> Result<Vec<ScheduleView>, AppError> {
    let now = state.clock.now();
    let mut texts = state.store.schedule_texts().await?;
    let site_locale = site_locale(state);
    let mut out = Vec::with_capacity(schedules.len());
    for s in schedules {
        let pending = instant::pending_fire(&state.store, &s, to_ms(now)).await?;
        let names = texts.remove(&s.slug).unwrap_or_default();
        out.push(ScheduleView::new(
            s,
            names,
            site_locale,
            locale,
            now,
            pending,
        ));
    }
    Ok(out)
}

/// The site's language, which `name` is written in.
pub fn site_locale(state: &ApiState) -> &'static str {
    supported(&state.config.site.language).unwrap_or(LOCALES[0])
}

/// The language of an answer: `Accept-Language` (zh-CN or en), else `site.language`.
pub fn request_locale(state: &ApiState, headers: &HeaderMap) -> &'static str {
    crate::subscriptions::choose_locale(None, headers, &state.config.site.language)
        .unwrap_or("zh-CN")
}
