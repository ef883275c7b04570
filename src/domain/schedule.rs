//! A digest schedule: when digests go out and what they hold (SPEC §6).

use serde::Serialize;

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Schedule {
    pub slug: String,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub send_when_empty: bool,
    pub max_articles: i64,
    #[serde(skip)]
    pub created_at: i64,
    /// Fire instants up to here have been evaluated.
    #[serde(skip)]
    pub checked_until: Option<i64>,
}

/// The editable fields of a schedule (already validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFields {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub send_when_empty: bool,
    pub max_articles: i64,
}

/// A schedule a subscriber may choose.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleChoice {
    pub slug: String,
    pub name: String,
}
