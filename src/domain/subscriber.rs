//! The subscriber and the choices they make (SPEC §5).

use serde::Serialize;

use super::SubscriberStatus;

/// The choices a subscriber makes; `sections: None` means every section, now and later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub sections: Option<Vec<String>>,
    pub schedule: String,
    pub locale: String,
}

/// A subscriber as stored, with their sections.
#[derive(Debug, Clone, Serialize)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    pub status: SubscriberStatus,
    pub all_sections: bool,
    /// Chosen sections; empty when `all_sections`.
    pub sections: Vec<String>,
    pub schedule: String,
    pub locale: String,
    pub generation: i64,
    /// How they came: `form`, `api` or `import`.
    pub source: String,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
    pub bounced_at: Option<i64>,
    /// When and why no mail goes to them any more (`hard_bounce`, `soft_bounces`,
    /// `complaint`), until they confirm a new subscription.
    pub suppressed_at: Option<i64>,
    pub suppressed_reason: Option<String>,
}
