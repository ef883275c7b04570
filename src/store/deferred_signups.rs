//! Sign-ups the per-address mail limit held back (`deferred_signups`), and their claims: a
//! process takes the due ones under a lease, so that one mail goes out whatever the number of
//! processes, and a process that died holding one leaves it to the others when it lapses.

use anyhow::Context;

use super::{Store, read_pool, write_tx};
use crate::domain::Preferences;

/// A held-back sign-up, as claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredSignup {
    pub subscriber_id: i64,
    pub email: String,
    /// The newest request's choices.
    pub prefs: Preferences,
    /// When the newest request came (it tells a newer one, arrived meanwhile, apart).
    pub requested_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    subscriber_id: i64,
    email: String,
    sections: Option<String>,
    schedule: String,
    locale: String,
    requested_at: i64,
}

impl From<Row> for DeferredSignup {
    fn from(r: Row) -> Self {
        Self {
            subscriber_id: r.subscriber_id,
            email: r.email,
            prefs: Preferences {
                sections: r
                    .sections
                    .map(|s| s.split_whitespace().map(str::to_owned).collect()),
                schedule: r.schedule,
                locale: r.locale,
            },
            requested_at: r.requested_at,
        }
    }
}

/// A row that no process holds (never claimed, or its claim lapsed) and whose time has come.
const READY: &str = "due_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)";

/// Ends `owner`'s claim on a row in the open transaction `$tx`, moving it to `$due` (ms)
/// when that is `Some`; a macro so one text serves both transaction types.
macro_rules! release {
    ($tx:ident, $id:expr, $owner:expr, $due:expr) => {
        sqlx::query(
            "UPDATE deferred_signups SET claimed_by = NULL, claimed_until = NULL,
                due_at = COALESCE($3, due_at)
             WHERE subscriber_id = $1 AND claimed_by = $2",
        )
        .bind($id)
        .bind($owner)
        .bind($due)
        .execute(&mut *$tx)
        .await
        .context("release deferred sign-up")?
    };
}

impl Store {
    /// Keeps the sign-up of `email` (an existing subscriber, held back by the limit) until
    /// `resend_ms` after its last mail; a newer request replaces an older one's choices.
    /// `false` when there is nothing to wait for (no such subscriber, or never mailed).
    #[tracing::instrument(skip_all)]
    pub async fn defer_signup(
        &self,
        email: &str,
        prefs: &Preferences,
        now_ms: i64,
        resend_ms: i64,
    ) -> anyhow::Result<bool> {
        let sections = prefs.sections.as_ref().map(|s| s.join(" "));
        write_tx!(self, |tx| {
            // `WHERE` before `ON CONFLICT`: SQLite's parser needs it after a `SELECT`.
            let stored = sqlx::query(
                "INSERT INTO deferred_signups
                    (subscriber_id, sections, schedule, locale, requested_at, due_at)
                 SELECT id, $2, $3, $4, $5, last_confirmation_at + $6 FROM subscribers
                 WHERE email = $1 AND last_confirmation_at IS NOT NULL
                 ON CONFLICT (subscriber_id) DO UPDATE SET sections = excluded.sections,
                    schedule = excluded.schedule, locale = excluded.locale,
                    requested_at = excluded.requested_at, due_at = excluded.due_at",
            )
            .bind(email)
            .bind(&sections)
            .bind(&prefs.schedule)
            .bind(&prefs.locale)
            .bind(now_ms)
            .bind(resend_ms)
            .execute(&mut *tx)
            .await
            .context("defer sign-up")?
            .rows_affected()
                > 0;
            tx.commit().await.context("commit deferred sign-up")?;
            Ok(stored)
        })
    }

    /// Claims up to `limit` due sign-ups for `owner` until `now_ms + lease_ms`, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn claim_deferred_signups(
        &self,
        now_ms: i64,
        lease_ms: i64,
        owner: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<DeferredSignup>> {
        write_tx!(self, |tx| {
            // The outer condition repeats the inner one: of two processes racing for a row,
            // PostgreSQL re-checks it for the second after the first's update, which then no
            // longer matches (SQLite has one writer at a time).
            let rows: Vec<Row> = sqlx::query_as(&format!(
                "UPDATE deferred_signups SET claimed_by = $2, claimed_until = $3
                 WHERE {READY} AND subscriber_id IN (
                       SELECT subscriber_id FROM deferred_signups WHERE {READY}
                       ORDER BY due_at, subscriber_id LIMIT $4)
                 RETURNING subscriber_id,
                    (SELECT email FROM subscribers s WHERE s.id = subscriber_id) AS email,
                    sections, schedule, locale, requested_at"
            ))
            .bind(now_ms)
            .bind(owner)
            .bind(now_ms + lease_ms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .context("claim deferred sign-ups")?;
            tx.commit().await.context("commit claim")?;
            Ok(rows.into_iter().map(Into::into).collect())
        })
    }

    /// The earliest instant (ms) a held-back sign-up becomes claimable, if any is kept.
    pub async fn next_deferred_signup_at(&self) -> anyhow::Result<Option<i64>> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT MIN(CASE WHEN claimed_until > due_at THEN claimed_until ELSE due_at END)
             FROM deferred_signups"
        )
        .fetch_one(p)
        .await
        .context("next deferred sign-up"))
    }

    /// Drops a sign-up `owner` has mailed, unless a newer request came meanwhile: that one
    /// stays, unclaimed, for its own turn.
    pub async fn finish_deferred_signup(
        &self,
        d: &DeferredSignup,
        owner: &str,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            let gone = sqlx::query(
                "DELETE FROM deferred_signups
                 WHERE subscriber_id = $1 AND claimed_by = $2 AND requested_at = $3",
            )
            .bind(d.subscriber_id)
            .bind(owner)
            .bind(d.requested_at)
            .execute(&mut *tx)
            .await
            .context("drop deferred sign-up")?
            .rows_affected();
            if gone == 0 {
                release!(tx, d.subscriber_id, owner, None::<i64>);
            }
            tx.commit().await.context("commit deferred sign-up")?;
            Ok(())
        })
    }

    /// Gives a claimed sign-up back to wait until `due_ms` (the limit still holds, e.g. after
    /// another mail went to the address meanwhile; or the hourly budget is spent).
    pub async fn postpone_deferred_signup(
        &self,
        subscriber_id: i64,
        owner: &str,
        due_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            release!(tx, subscriber_id, owner, Some(due_ms));
            tx.commit().await.context("commit postponed sign-up")?;
            Ok(())
        })
    }

    /// When (ms) the address of `subscriber_id` may get its next mail: `resend_ms` after its
    /// last one.
    pub async fn next_mail_allowed_at(
        &self,
        subscriber_id: i64,
        resend_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        let last: Option<Option<i64>> = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT last_confirmation_at FROM subscribers WHERE id = $1"
        )
        .bind(subscriber_id)
        .fetch_optional(p)
        .await
        .context("read last mail"))?;
        Ok(last.flatten().map(|t| t + resend_ms))
    }

    /// Forgets the kept sign-up of `email`, if any (a mail answering it just went out).
    pub async fn drop_deferred_signup(&self, email: &str) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "DELETE FROM deferred_signups
                 WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email = $1)",
            )
            .bind(email)
            .execute(&mut *tx)
            .await
            .context("drop deferred sign-up")?;
            tx.commit().await.context("commit dropped sign-up")?;
            Ok(())
        })
    }

    /// The sign-up kept for `subscriber_id`, if any, with the instant (ms) it is due: what
    /// the subscriber's console page (and a test) can tell about a held-back mail.
    pub async fn deferred_signup(
        &self,
        subscriber_id: i64,
    ) -> anyhow::Result<Option<(DeferredSignup, i64)>> {
        #[derive(sqlx::FromRow)]
        struct Kept {
            #[sqlx(flatten)]
            row: Row,
            due_at: i64,
        }
        let kept: Option<Kept> = read_pool!(self, |p| sqlx::query_as(
            "SELECT d.subscriber_id, s.email, d.sections, d.schedule, d.locale, d.requested_at,
                    d.due_at
             FROM deferred_signups d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.subscriber_id = $1"
        )
        .bind(subscriber_id)
        .fetch_optional(p)
        .await
        .context("read deferred sign-up"))?;
        Ok(kept.map(|k| (k.row.into(), k.due_at)))
    }
}
