//! The people of the admin console, their API tokens and the audit log (SPEC §9).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AuditKind, LoginOutcome, Role};

/// A person who may log in to the console.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    /// Lower case.
    pub email: String,
    pub role: Role,
    /// Whether a password was set (else only the one-time link works).
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A named bearer token of the API; only its hash is stored.
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Who made it (an email, or `cli`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One recorded change: who did what to which thing, from where.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// A person's email, or `cli` for the command line.
    pub actor: String,
    pub kind: AuditKind,
    /// What was changed ("token docs-bot", "editor@example.org").
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// The client address; `None` for the command line.
    pub client: Option<String>,
}

/// A change to record in the audit log, written in the same transaction as the change.
#[derive(Debug, Clone)]
pub struct Audit {
    pub actor: String,
    pub kind: AuditKind,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub client: Option<String>,
}

impl Audit {
    /// An entry without a before/after summary.
    pub fn new(actor: &str, kind: AuditKind, target: &str, client: Option<&str>) -> Self {
        Self {
            actor: actor.to_owned(),
            kind,
            target: target.to_owned(),
            before: None,
            after: None,
            client: client.map(str::to_owned),
        }
    }

    /// The same entry with a "before → after" summary.
    pub fn change(mut self, before: Option<String>, after: Option<String>) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

/// One try at the login form.
#[derive(Debug, Clone, Serialize)]
pub struct LoginAttempt {
    pub email: String,
    pub client: String,
    pub outcome: LoginOutcome,
    pub at: DateTime<Utc>,
}
