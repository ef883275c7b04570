//! People of the admin console: accounts and their one-time set-password links (looked up by
//! the hash of their secret only).

use anyhow::Context;

use super::{Store, audit::insert_audit, read_pool, write_tx};
use crate::{
    clock::from_ms,
    domain::{Account, Audit, Role},
};

pub(super) const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.role, a.password_hash IS NOT NULL AS has_password, \
                               a.created_at, a.last_login_at";

#[derive(sqlx::FromRow)]
pub(super) struct AccountRow {
    id: i64,
    email: String,
    #[sqlx(try_from = "String")]
    role: Role,
    has_password: bool,
    created_at: i64,
    last_login_at: Option<i64>,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Self {
        Account {
            id: r.id,
            email: r.email,
            role: r.role,
            has_password: r.has_password,
            created_at: from_ms(r.created_at),
            last_login_at: r.last_login_at.map(from_ms),
        }
    }
}

/// What the login form checks a password against.
pub struct LoginSecret {
    pub account: Account,
    /// Argon2id PHC string; `None` until the person set a password.
    pub password_hash: Option<String>,
}

impl Store {
    /// Adds an account waiting for its password (set through the link whose hash is given);
    /// `None` if the address already has one.
    pub async fn add_account(
        &self,
        email: &str,
        role: Role,
        setup_hash: &str,
        setup_expires_ms: i64,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO admin_accounts (email, role, setup_hash, setup_expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id",
            )
            .bind(email)
            .bind(role.as_str())
            .bind(setup_hash)
            .bind(setup_expires_ms)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .context("insert account")?;
            if id.is_some() {
                insert_audit!(tx, audit, now_ms)?;
            }
            tx.commit().await.context("commit account")?;
            Ok(id)
        })
    }

    /// Gives `email` a new set-password link, clears its password and ends its sessions;
    /// `false` if there is no such account.
    pub async fn reset_account(
        &self,
        email: &str,
        setup_hash: &str,
        setup_expires_ms: i64,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE admin_accounts SET password_hash = NULL, setup_hash = $2,
                        setup_expires_at = $3
                 WHERE email = $1 RETURNING id",
            )
            .bind(email)
            .bind(setup_hash)
            .bind(setup_expires_ms)
            .fetch_optional(&mut *tx)
            .await
            .context("reset account")?;
            if let Some(id) = id {
                sqlx::query("DELETE FROM admin_sessions WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .context("end sessions of a reset account")?;
                insert_audit!(tx, audit, now_ms)?;
            }
            tx.commit().await.context("commit account reset")?;
            Ok(id.is_some())
        })
    }

    /// Every account, by address.
    pub async fn list_accounts(&self) -> anyhow::Result<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a ORDER BY a.email");
        let rows: Vec<AccountRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .context("list accounts"))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The account whose set-password link has this hash, while the link is valid.
    pub async fn account_for_setup(
        &self,
        setup_hash: &str,
        now_ms: i64,
    ) -> anyhow::Result<Option<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a
             WHERE a.setup_hash = $1 AND a.setup_expires_at > $2"
        );
        let row: Option<AccountRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(setup_hash)
            .bind(now_ms)
            .fetch_optional(p)
            .await
            .context("find set-password link"))?;
        Ok(row.map(Into::into))
    }

    /// Sets the password of the account holding the valid link `setup_hash`, uses the link up
    /// and ends the account's sessions; `false` if the link is no longer valid.
    pub async fn set_password(
        &self,
        setup_hash: &str,
        password_hash: &str,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE admin_accounts SET password_hash = $2, setup_hash = NULL,
                        setup_expires_at = NULL
                 WHERE setup_hash = $1 AND setup_expires_at > $3 RETURNING id",
            )
            .bind(setup_hash)
            .bind(password_hash)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .context("set password")?;
            if let Some(id) = id {
                sqlx::query("DELETE FROM admin_sessions WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .context("end sessions at a new password")?;
                insert_audit!(tx, audit, now_ms)?;
            }
            tx.commit().await.context("commit password")?;
            Ok(id.is_some())
        })
    }

    /// The account of `email` and its password hash, for the login form.
    pub async fn login_secret(&self, email: &str) -> anyhow::Result<Option<LoginSecret>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, a.password_hash FROM admin_accounts a WHERE a.email = $1"
        );
        let row: Option<SecretRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(p)
            .await
            .context("find account for login"))?;
        Ok(row.map(|r| LoginSecret {
            account: r.account.into(),
            password_hash: r.password_hash,
        }))
    }
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    #[sqlx(flatten)]
    account: AccountRow,
    password_hash: Option<String>,
}
