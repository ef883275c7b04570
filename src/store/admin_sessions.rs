//! Sessions of the admin console (looked up by the hash of their id) and login attempts.

use anyhow::Context;

use super::{
    Store,
    admin_accounts::{ACCOUNT_COLUMNS, AccountRow},
    audit::insert_audit,
    read_pool, write_tx,
};
use crate::{
    clock::from_ms,
    domain::{Account, Audit, LoginAttempt, LoginOutcome},
};

/// Login attempts older than this are deleted when someone logs in.
const KEEP_ATTEMPTS_MS: i64 = 30 * 24 * 3_600_000;

/// A new session to store at login.
pub struct NewSession<'a> {
    pub hash: &'a str,
    /// The session the browser had before, ended by the login (ids are rotated).
    pub replaces: Option<&'a str>,
    pub client: &'a str,
    /// Expired sessions (idle since before this, or created before `absolute_cutoff_ms`) are
    /// deleted on the way.
    pub idle_cutoff_ms: i64,
    pub absolute_cutoff_ms: i64,
}

/// A live session and its person.
pub struct SessionRow {
    pub account: Account,
    pub last_seen_ms: i64,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    email: String,
    client: String,
    #[sqlx(try_from = "String")]
    outcome: LoginOutcome,
    at: i64,
}

impl Store {
    /// Records a failed or throttled login attempt.
    pub async fn record_login_attempt(
        &self,
        email: &str,
        client: &str,
        outcome: LoginOutcome,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO admin_login_attempts (email, client, outcome, at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(email)
            .bind(client)
            .bind(outcome.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("record login attempt")?;
            tx.commit().await.context("commit login attempt")?;
        });
        Ok(())
    }

    /// Instants (ms, newest first, at most `most`) of failed logins for `email` since
    /// `since_ms` and since its last successful login.
    pub async fn login_failures_of_email(
        &self,
        email: &str,
        since_ms: i64,
        most: u32,
    ) -> anyhow::Result<Vec<i64>> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT at FROM admin_login_attempts
             WHERE email = $1 AND outcome = 'failed' AND at > $2
               AND at > COALESCE((SELECT MAX(at) FROM admin_login_attempts
                                  WHERE email = $1 AND outcome = 'success'), 0)
             ORDER BY at DESC LIMIT $3"
        )
        .bind(email)
        .bind(since_ms)
        .bind(i64::from(most))
        .fetch_all(p)
        .await
        .context("count login failures of an address"))
    }

    /// Instants (ms, newest first, at most `most`) of failed logins from `client` since
    /// `since_ms`, whatever the address.
    pub async fn login_failures_of_client(
        &self,
        client: &str,
        since_ms: i64,
        most: u32,
    ) -> anyhow::Result<Vec<i64>> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT at FROM admin_login_attempts
             WHERE client = $1 AND outcome = 'failed' AND at > $2
             ORDER BY at DESC LIMIT $3"
        )
        .bind(client)
        .bind(since_ms)
        .bind(i64::from(most))
        .fetch_all(p)
        .await
        .context("count login failures of a client"))
    }

    /// The latest login attempts, newest first.
    pub async fn recent_login_attempts(&self, limit: u32) -> anyhow::Result<Vec<LoginAttempt>> {
        let rows: Vec<AttemptRow> = read_pool!(self, |p| sqlx::query_as(
            "SELECT email, client, outcome, at FROM admin_login_attempts
             ORDER BY id DESC LIMIT $1"
        )
        .bind(i64::from(limit))
        .fetch_all(p)
        .await
        .context("list login attempts"))?;
        Ok(rows
            .into_iter()
            .map(|r| LoginAttempt {
                email: r.email,
                client: r.client,
                outcome: r.outcome,
                at: from_ms(r.at),
            })
            .collect())
    }

    /// A successful login of `account_id` (whose address is `email`): stores the new session,
    /// ends the one it replaces, records the attempt and `audit`, and clears out expired
    /// sessions and old attempts.
    pub async fn log_in(
        &self,
        account_id: i64,
        email: &str,
        session: &NewSession<'_>,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "DELETE FROM admin_sessions WHERE hash = $1 OR last_seen_at <= $2 OR created_at <= $3",
            )
            .bind(session.replaces.unwrap_or(""))
            .bind(session.idle_cutoff_ms)
            .bind(session.absolute_cutoff_ms)
            .execute(&mut *tx)
            .await
            .context("end replaced and expired sessions")?;
            sqlx::query(
                "INSERT INTO admin_sessions (hash, account_id, created_at, last_seen_at, client)
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(session.hash)
            .bind(account_id)
            .bind(now_ms)
            .bind(session.client)
            .execute(&mut *tx)
            .await
            .context("insert session")?;
            sqlx::query("UPDATE admin_accounts SET last_login_at = $2 WHERE id = $1")
                .bind(account_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("record last login")?;
            sqlx::query("DELETE FROM admin_login_attempts WHERE at < $1")
                .bind(now_ms - KEEP_ATTEMPTS_MS)
                .execute(&mut *tx)
                .await
                .context("delete old login attempts")?;
            sqlx::query(
                "INSERT INTO admin_login_attempts (email, client, outcome, at)
                 VALUES ($1, $2, 'success', $3)",
            )
            .bind(email)
            .bind(session.client)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("record login")?;
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit login")?;
        });
        Ok(())
    }

    /// The session with this hash and its person, unless idle since `idle_cutoff_ms` or
    /// created before `absolute_cutoff_ms`.
    pub async fn session(
        &self,
        hash: &str,
        idle_cutoff_ms: i64,
        absolute_cutoff_ms: i64,
    ) -> anyhow::Result<Option<SessionRow>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, s.last_seen_at FROM admin_sessions s
             JOIN admin_accounts a ON a.id = s.account_id
             WHERE s.hash = $1 AND s.last_seen_at > $2 AND s.created_at > $3"
        );
        let row: Option<SessionJoin> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(hash)
            .bind(idle_cutoff_ms)
            .bind(absolute_cutoff_ms)
            .fetch_optional(p)
            .await
            .context("find session"))?;
        Ok(row.map(|r| SessionRow {
            account: r.account.into(),
            last_seen_ms: r.last_seen_at,
        }))
    }

    /// Marks the session as used now (its idle time starts again).
    pub async fn touch_session(&self, hash: &str, now_ms: i64) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query("UPDATE admin_sessions SET last_seen_at = $2 WHERE hash = $1")
                .bind(hash)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("touch session")?;
            tx.commit().await.context("commit session touch")?;
        });
        Ok(())
    }

    /// Ends one session (log out), recording `audit`.
    pub async fn end_session(&self, hash: &str, audit: &Audit, now_ms: i64) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM admin_sessions WHERE hash = $1")
                .bind(hash)
                .execute(&mut *tx)
                .await
                .context("end session")?;
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit logout")?;
        });
        Ok(())
    }

    /// Ends every session of one person (log out everywhere), recording `audit`; returns how
    /// many there were.
    pub async fn end_all_sessions(
        &self,
        account_id: i64,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<u64> {
        write_tx!(self, |tx| {
            let n = sqlx::query("DELETE FROM admin_sessions WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *tx)
                .await
                .context("end every session")?
                .rows_affected();
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit logout everywhere")?;
            Ok(n)
        })
    }

    /// How many live-looking sessions an account has (expired ones not yet deleted count).
    pub async fn count_sessions(&self, account_id: i64) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM admin_sessions WHERE account_id = $1"
        )
        .bind(account_id)
        .fetch_one(p)
        .await
        .context("count sessions"))
    }
}

#[derive(sqlx::FromRow)]
struct SessionJoin {
    #[sqlx(flatten)]
    account: AccountRow,
    last_seen_at: i64,
}
