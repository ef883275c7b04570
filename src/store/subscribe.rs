//! Sign-up: the one transaction behind `POST /subscribe`, and re-sent confirmations.

use anyhow::Context;

use super::{
    Store,
    subscribers::{SubscribeOutcome, insert_token, write_prefs},
    write_tx,
};
use crate::domain::{Preferences, SubscriberStatus, TokenKind};

/// What a sign-up does to an existing (or just inserted) row.
struct Step {
    /// Start a new subscription: pending, next generation, old tokens gone.
    renew: bool,
    /// Take the request's sections, schedule and locale.
    write_prefs: bool,
    /// The mail to send, by the kind of token it carries.
    mail: Option<TokenKind>,
}

/// Decides a sign-up's effect; an active subscriber's choices are never changed by a
/// stranger who knows the address.
fn plan(inserted: bool, status: &str, throttled: bool) -> Step {
    let status = SubscriberStatus::parse(status).unwrap_or(SubscriberStatus::Pending);
    let step = |renew, write_prefs, mail| Step {
        renew,
        write_prefs,
        mail,
    };
    match (inserted, status, throttled) {
        (true, ..) => step(false, true, Some(TokenKind::Confirm)),
        (false, SubscriberStatus::Pending, false) => step(false, true, Some(TokenKind::Confirm)),
        (false, SubscriberStatus::Pending, true) => step(false, true, None),
        (false, SubscriberStatus::Active, false) => step(false, false, Some(TokenKind::Manage)),
        (false, SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced, false) => {
            step(true, true, Some(TokenKind::Confirm))
        }
        (false, _, true) => step(false, false, None),
    }
}

/// The tokens a subscribe request issues (only one of them is stored, depending on state).
pub struct IssuedHashes<'a> {
    pub confirm: &'a str,
    pub manage: &'a str,
    pub confirm_expires_at: i64,
}
impl Store {
    /// Records a sign-up: new addresses and former subscribers become pending (the latter
    /// under a new generation), pending ones take the new preferences, active ones are left
    /// alone. Throttled when a mail went to this address less than `resend_ms` ago.
    #[tracing::instrument(skip_all)]
    pub async fn request_subscription(
        &self,
        email: &str,
        prefs: &Preferences,
        hashes: &IssuedHashes<'_>,
        now_ms: i64,
        resend_ms: i64,
    ) -> anyhow::Result<SubscribeOutcome> {
        let lock = self.row_lock();
        write_tx!(self, |tx| {
            // Insert first: of two concurrent first requests, exactly one creates the row.
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO subscribers (email, status, all_sections, schedule, locale,
                    generation, created_at, source)
                 VALUES ($1, 'pending', TRUE, $2, $3, 1, $4, 'form')
                 ON CONFLICT (email) DO NOTHING RETURNING id",
            )
            .bind(email)
            .bind(&prefs.schedule)
            .bind(&prefs.locale)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .context("insert subscriber")?;
            let (id, status, generation, last, locale): (i64, String, i64, Option<i64>, String) =
                sqlx::query_as(&format!(
                    "SELECT id, status, generation, last_confirmation_at, locale
                     FROM subscribers WHERE email = $1{lock}"
                ))
                .bind(email)
                .fetch_one(&mut *tx)
                .await
                .context("read subscriber")?;
            let step = plan(
                inserted.is_some(),
                &status,
                last.is_some_and(|t| now_ms - t < resend_ms),
            );
            let generation = if step.renew {
                generation + 1
            } else {
                generation
            };
            if step.renew {
                sqlx::query(
                    "UPDATE subscribers SET status = 'pending', generation = $2,
                        confirmed_at = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(generation)
                .execute(&mut *tx)
                .await
                .context("renew subscriber")?;
                // Earlier links must stop working; the generation check says so too.
                sqlx::query("DELETE FROM tokens WHERE subscriber_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .context("drop old tokens")?;
            }
            if step.write_prefs {
                write_prefs!(tx, id, prefs);
            }
            if let Some(kind) = step.mail {
                sqlx::query("UPDATE subscribers SET last_confirmation_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("note mail")?;
                let (hash, expires) = match kind {
                    TokenKind::Confirm => (hashes.confirm, Some(hashes.confirm_expires_at)),
                    TokenKind::Manage => (hashes.manage, None),
                };
                insert_token!(tx, hash, id, kind, generation, now_ms, expires);
            }
            tx.commit().await.context("commit subscription")?;
            Ok(match step.mail {
                Some(TokenKind::Confirm) => SubscribeOutcome::SendConfirmation {
                    subscriber_id: id,
                    locale: prefs.locale.clone(),
                },
                Some(TokenKind::Manage) => SubscribeOutcome::SendAlreadyActive {
                    subscriber_id: id,
                    locale,
                },
                None => SubscribeOutcome::Throttled,
            })
        })
    }

    /// Issues one more confirmation token for a pending subscriber (the "send a new mail"
    /// button of an expired link); `false` when not pending or throttled.
    pub async fn reissue_confirmation(
        &self,
        subscriber_id: i64,
        generation: i64,
        confirm_hash: &str,
        expires_at: i64,
        now_ms: i64,
        resend_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let touched = sqlx::query(
                "UPDATE subscribers SET last_confirmation_at = $3
                 WHERE id = $1 AND generation = $2 AND status = 'pending'
                   AND (last_confirmation_at IS NULL OR last_confirmation_at <= $4)",
            )
            .bind(subscriber_id)
            .bind(generation)
            .bind(now_ms)
            .bind(now_ms - resend_ms)
            .execute(&mut *tx)
            .await
            .context("touch subscriber")?
            .rows_affected()
                == 1;
            if touched {
                insert_token!(
                    tx,
                    confirm_hash,
                    subscriber_id,
                    TokenKind::Confirm,
                    generation,
                    now_ms,
                    Some(expires_at)
                );
            }
            tx.commit().await.context("commit reissue")?;
            Ok(touched)
        })
    }
}
