//! Schedules as the admin API answers them: the stored fields, a reading of the cron in the
//! request's language, and the next fire instants.

use axum::http::HeaderMap;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::ApiState;
use crate::{
    digests::{describe::describe, fire::next_instants},
    domain::{CronSpec, Schedule, TimeZone},
};

/// How many fire instants an answer lists.
pub const NEXT_FIRES: usize = 5;

/// A schedule with `description` and `next_fire_at`.
#[derive(Serialize)]
pub struct ScheduleView {
    #[serde(flatten)]
    schedule: Schedule,
    /// The cron read in the request's language, with the zone.
    description: String,
    /// The next [`NEXT_FIRES`] instants of the cron after now, RFC 3339 UTC; listed for a
    /// disabled schedule too (they are when it would fire once enabled).
    next_fire_at: Vec<String>,
}

impl ScheduleView {
    /// The view of `schedule` at `now`, described in `locale`.
    pub fn new(schedule: Schedule, locale: &str, now: DateTime<Utc>) -> Self {
        // Stored crons and zones were validated on the way in; a row edited by hand into
        // something unreadable still answers, with its cron as written and no instants.
        let (description, next) = match (
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
        };
        Self {
            schedule,
            description,
            next_fire_at: next
                .iter()
                .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .collect(),
        }
    }
}

/// The language of an answer: `Accept-Language` (zh-CN or en), else `site.language`.
pub fn request_locale(state: &ApiState, headers: &HeaderMap) -> &'static str {
    crate::subscriptions::choose_locale(None, headers, &state.config.site.language)
        .unwrap_or("zh-CN")
}
