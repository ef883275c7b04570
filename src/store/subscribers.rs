//! Subscribers and their tokens: the double opt-in life cycle (SPEC §5).
//!
//! Tokens are stored only as SHA-256 hashes; a token row carries the subscriber's
//! `generation` at issue, and a token whose generation is older than the subscriber's no
//! longer works (re-subscribing bumps the generation).

use super::{Backend, Store};
use crate::domain::{Subscriber, SubscriberStatus, TokenKind};

#[derive(sqlx::FromRow)]
pub(super) struct SubscriberRow {
    pub id: i64,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub status: SubscriberStatus,
    pub all_sections: bool,
    pub schedule: String,
    pub locale: String,
    pub generation: i64,
    pub source: String,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
    pub bounced_at: Option<i64>,
    pub suppressed_at: Option<i64>,
    pub suppressed_reason: Option<String>,
}

/// Columns of [`SubscriberRow`], for `SELECT`s.
pub(super) const SUBSCRIBER_COLUMNS: &str = "id, email, status, all_sections, schedule, locale, \
    generation, source, created_at, confirmed_at, unsubscribed_at, bounced_at, suppressed_at, \
    suppressed_reason";

impl SubscriberRow {
    pub(super) fn into_subscriber(self, sections: Vec<String>) -> Subscriber {
        Subscriber {
            id: self.id,
            email: self.email,
            status: self.status,
            all_sections: self.all_sections,
            sections: if self.all_sections {
                Vec::new()
            } else {
                sections
            },
            schedule: self.schedule,
            locale: self.locale,
            generation: self.generation,
            source: self.source,
            created_at: self.created_at,
            confirmed_at: self.confirmed_at,
            unsubscribed_at: self.unsubscribed_at,
            bounced_at: self.bounced_at,
            suppressed_at: self.suppressed_at,
            suppressed_reason: self.suppressed_reason,
        }
    }
}

/// What `POST /subscribe` led to. The HTTP answer is the same for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// A confirmation mail should go out carrying the confirm token.
    SendConfirmation { subscriber_id: i64, locale: String },
    /// Already active: a note with a manage link should go out carrying the manage token.
    SendAlreadyActive { subscriber_id: i64, locale: String },
    /// A mail went to this address less than the resend interval ago: send nothing.
    Throttled,
}

/// A token found by its hash, with the subscriber it belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenMatch {
    pub hash: String,
    #[sqlx(try_from = "String")]
    pub kind: TokenKind,
    pub token_generation: i64,
    pub expires_at: Option<i64>,
    pub subscriber_id: i64,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub status: SubscriberStatus,
    pub generation: i64,
    pub locale: String,
    pub schedule: String,
}

impl TokenMatch {
    /// Whether the token is of `kind` and of the subscriber's current generation.
    pub fn is_current(&self, kind: TokenKind) -> bool {
        self.kind == kind && self.token_generation == self.generation
    }
}
/// `INSERT`s one token row; a macro so one text serves both transaction types.
macro_rules! insert_token {
    ($tx:ident, $hash:expr, $id:expr, $kind:expr, $generation:expr, $now:expr, $expires:expr) => {
        sqlx::query(
            "INSERT INTO tokens (hash, subscriber_id, kind, generation, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($hash)
        .bind($id)
        .bind($kind.as_str())
        .bind($generation)
        .bind($now)
        .bind($expires)
        .execute(&mut *$tx)
        .await
        .context("insert token")?
    };
}

/// Replaces a subscriber's schedule, locale and sections.
macro_rules! write_prefs {
    ($tx:ident, $id:expr, $prefs:expr) => {{
        let prefs: &$crate::domain::Preferences = $prefs;
        sqlx::query(
            "UPDATE subscribers SET all_sections = $2, schedule = $3, locale = $4 WHERE id = $1",
        )
        .bind($id)
        .bind(prefs.sections.is_none())
        .bind(&prefs.schedule)
        .bind(&prefs.locale)
        .execute(&mut *$tx)
        .await
        .context("update preferences")?;
        sqlx::query("DELETE FROM subscriber_sections WHERE subscriber_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await
            .context("clear sections")?;
        for section in prefs.sections.iter().flatten() {
            sqlx::query("INSERT INTO subscriber_sections (subscriber_id, section) VALUES ($1, $2)")
                .bind($id)
                .bind(section)
                .execute(&mut *$tx)
                .await
                .context("insert section")?;
        }
    }};
}
pub(super) use {insert_token, write_prefs};
impl Store {
    pub(super) fn row_lock(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}
