//! `tidings admin add EMAIL [--role admin|editor]`, `tidings admin reset EMAIL`,
//! `tidings admin list`: accounts are made on the command line, each with a one-time link
//! (24 hours) to set its password in the browser.

use anyhow::bail;
use chrono::{DateTime, Utc};

use super::{account_email, secret, setup::LINK_TTL_MS};
use crate::{
    clock::to_ms,
    config::Config,
    domain::{Account, Audit, AuditKind, Role},
    store::Store,
};

/// Who the audit log names for changes made on the command line.
pub const CLI_ACTOR: &str = "cli";

/// The set-password link of `token` on this site.
pub fn password_link(config: &Config, token: &str) -> String {
    format!(
        "{}/admin/password?token={token}",
        config.site.base_url.trim_end_matches('/')
    )
}

/// Why [`add_account`] added nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddRefused {
    /// Not an email address (what is wrong with it).
    Invalid(String),
    /// The address already has an account (in lower case).
    Exists(String),
}

/// Adds an account and returns its set-password link; the command line and the console's
/// accounts page both add people this way (`actor` and `client` go to the audit log).
pub async fn add_account(
    store: &Store,
    config: &Config,
    raw_email: &str,
    role: Role,
    now: DateTime<Utc>,
    actor: &str,
    client: Option<&str>,
) -> anyhow::Result<Result<String, AddRefused>> {
    let email = match account_email(raw_email) {
        Ok(e) => e,
        Err(e) => return Ok(Err(AddRefused::Invalid(e.to_string()))),
    };
    let token = secret::generate();
    let now = to_ms(now);
    let audit = Audit::new(actor, AuditKind::AccountAdd, &email, client)
        .change(None, Some(format!("role {role}")));
    let added = store
        .add_account(
            &email,
            role,
            &secret::hash(&token),
            now + LINK_TTL_MS,
            &audit,
            now,
        )
        .await?;
    if added.is_none() {
        return Ok(Err(AddRefused::Exists(email)));
    }
    Ok(Ok(password_link(config, &token)))
}

/// Adds an account and returns its set-password link.
pub async fn add(
    store: &Store,
    config: &Config,
    raw_email: &str,
    role: Role,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    match add_account(store, config, raw_email, role, now, CLI_ACTOR, None).await? {
        Ok(link) => Ok(link),
        Err(AddRefused::Invalid(e)) => bail!("{raw_email:?}: {e}"),
        Err(AddRefused::Exists(email)) => bail!(
            "{email} already has an account; `tidings admin reset {email}` gives it a new link"
        ),
    }
}

/// Gives an account a new set-password link; its password and sessions end at once.
pub async fn reset(
    store: &Store,
    config: &Config,
    raw_email: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let email = account_email(raw_email).map_err(|e| anyhow::anyhow!("{raw_email:?}: {e}"))?;
    let token = secret::generate();
    let now = to_ms(now);
    let audit = Audit::new(CLI_ACTOR, AuditKind::AccountReset, &email, None);
    if !store
        .reset_account(
            &email,
            &secret::hash(&token),
            now + LINK_TTL_MS,
            &audit,
            now,
        )
        .await?
    {
        bail!("there is no account {email}; `tidings admin add {email}` makes one");
    }
    Ok(password_link(config, &token))
}

/// Every account, as the `list` command prints it.
pub async fn list(store: &Store, config: &Config) -> anyhow::Result<String> {
    let tz: chrono_tz::Tz = config.site.timezone.parse().unwrap_or(chrono_tz::UTC);
    let accounts: Vec<Account> = store.list_accounts().await?;
    let mut out = format!("{:<40} {:<8} LAST LOGIN ({})\n", "EMAIL", "ROLE", tz.name());
    for a in accounts {
        let last = match (a.last_login_at, a.has_password) {
            (Some(t), _) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            (None, true) => "never".to_owned(),
            (None, false) => "never (password not set yet)".to_owned(),
        };
        out.push_str(&format!("{:<40} {:<8} {last}\n", a.email, a.role));
    }
    Ok(out)
}
