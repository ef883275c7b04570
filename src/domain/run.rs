//! A digest run and its deliveries, as the admin API shows them (SPEC §7).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    RunFigure, RunStatus,
    serde_time::{rfc3339, rfc3339_opt},
};

/// One run of a schedule with its figures: each delivery counts in exactly one of `sent`,
/// `skipped`, `deferred`, `failed`, `bounced`, `uncertain`, `pending`.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub schedule: String,
    /// The cron instant; `None` for a manual run.
    #[serde(serialize_with = "rfc3339_opt")]
    pub fire_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    /// Still planning its deliveries, a chunk at a time (its `status` is `running` meanwhile
    /// and its `total` grows): those planned so far are being sent already.
    pub planning: bool,
    pub total: i64,
    pub sent: i64,
    pub skipped: i64,
    /// Waiting for a retry or for the relay.
    pub deferred: i64,
    /// Gave up: attempts used up.
    pub failed: i64,
    pub bounced: i64,
    /// No answer after the final "." (waiting for its one retry, or final).
    pub uncertain: i64,
    /// Not tried yet.
    pub pending: i64,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Run {
    /// No delivery of the run is left to do.
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// One delivery of a run: one subscriber's digest.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    /// `None` once the subscriber was erased.
    pub email: Option<String>,
    /// The run figure this delivery counts in.
    pub status: RunFigure,
    pub attempts: i64,
    /// The last SMTP reply or failure, verbatim, or the diagnostic of a DSN that came back.
    pub last_reply: Option<String>,
    /// The status code of a delivery status notification that came back for it (`5.1.1`).
    pub dsn_status: Option<String>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it is tried next; only while it waits.
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
}
