//! Subscribers and their tokens: the double opt-in life cycle (SPEC §5).
//!
//! Tokens are stored only as SHA-256 hashes; a token row carries the subscriber's
//! `generation` at issue, and a token whose generation is older than the subscriber's no
//! longer works (re-subscribing bumps the generation).

use super::{Backend, Store};

/// Where a subscriber stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriberStatus {
    Pending,
    Active,
    Unsubscribed,
    Bounced,
}

impl SubscriberStatus {
    /// The stored (and API) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
        }
    }

    /// Reads a spelling from outside (a query parameter, an import file).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "unsubscribed" => Self::Unsubscribed,
            "bounced" => Self::Bounced,
            _ => return None,
        })
    }

    /// Reads the stored spelling; anything else is an error, never a guess.
    pub fn from_stored(s: &str) -> anyhow::Result<Self> {
        Self::parse(s)
            .ok_or_else(|| anyhow::anyhow!("unknown subscriber status {s:?} in the database"))
    }
}

/// What a token is for: confirming an address, or managing/unsubscribing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Confirm,
    Manage,
}

impl TokenKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Manage => "manage",
        }
    }
}

/// The choices a subscriber makes; `sections: None` means every section, now and later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub sections: Option<Vec<String>>,
    pub schedule: String,
    pub locale: String,
}

/// A subscriber as stored, with their sections.
#[derive(Debug, Clone, serde::Serialize)]
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
    pub source: String,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
    pub bounced_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SubscriberRow {
    pub id: i64,
    pub email: String,
    pub status: String,
    pub all_sections: bool,
    pub schedule: String,
    pub locale: String,
    pub generation: i64,
    pub source: String,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
    pub bounced_at: Option<i64>,
}

/// Columns of [`SubscriberRow`], for `SELECT`s.
pub(super) const SUBSCRIBER_COLUMNS: &str = "id, email, status, all_sections, schedule, locale, \
    generation, source, created_at, confirmed_at, unsubscribed_at, bounced_at";

impl SubscriberRow {
    pub(super) fn into_subscriber(self, sections: Vec<String>) -> Subscriber {
        Subscriber {
            id: self.id,
            email: self.email,
            status: SubscriberStatus::parse(&self.status).unwrap_or(SubscriberStatus::Pending),
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
    pub kind: String,
    pub token_generation: i64,
    pub expires_at: Option<i64>,
    pub subscriber_id: i64,
    pub email: String,
    pub status: String,
    pub generation: i64,
    pub locale: String,
    pub schedule: String,
}

impl TokenMatch {
    /// Whether the token is of `kind` and of the subscriber's current generation.
    pub fn is_current(&self, kind: TokenKind) -> bool {
        self.kind == kind.as_str() && self.token_generation == self.generation
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
        let prefs: &Preferences = $prefs;
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
