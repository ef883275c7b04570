//! Token look-up and what a token lets its holder do: confirm, unsubscribe, manage.

use anyhow::Context;

use super::{
    Store, read_pool,
    subscribers::{TokenMatch, insert_token, write_prefs},
    write_tx,
};
use crate::domain::{Preferences, TokenKind};

impl Store {
    /// Finds a token by the hash of what the client presented.
    pub async fn find_token(&self, hash: &str) -> anyhow::Result<Option<TokenMatch>> {
        read_pool!(self, |p| sqlx::query_as::<_, TokenMatch>(
            "SELECT t.hash, t.kind, t.generation AS token_generation, t.expires_at,
                    s.id AS subscriber_id, s.email, s.status, s.generation, s.locale, s.schedule
             FROM tokens t JOIN subscribers s ON s.id = t.subscriber_id WHERE t.hash = $1"
        )
        .bind(hash)
        .fetch_optional(p)
        .await
        .context("find token"))
    }

    /// Activates a pending subscriber of `generation` and stores a manage token for the
    /// welcome page; `false` when nothing was pending (already active, or a stale link).
    #[tracing::instrument(skip_all, fields(subscriber_id))]
    pub async fn confirm_subscriber(
        &self,
        subscriber_id: i64,
        generation: i64,
        manage_hash: &str,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let activated = sqlx::query(
                "UPDATE subscribers SET status = 'active', confirmed_at = $3,
                    suppressed_at = NULL, suppressed_reason = NULL, suppressed_detail = NULL
                 WHERE id = $1 AND generation = $2 AND status = 'pending'",
            )
            .bind(subscriber_id)
            .bind(generation)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("activate subscriber")?
            .rows_affected()
                == 1;
            if activated {
                insert_token!(
                    tx,
                    manage_hash,
                    subscriber_id,
                    TokenKind::Manage,
                    generation,
                    now_ms,
                    None::<i64>
                );
            }
            tx.commit().await.context("commit confirmation")?;
            Ok(activated)
        })
    }

    /// Unsubscribes (idempotently); `false` when `generation` is not the current one.
    #[tracing::instrument(skip_all, fields(subscriber_id))]
    pub async fn unsubscribe(
        &self,
        subscriber_id: i64,
        generation: i64,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            sqlx::query(
                "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = $3
                 WHERE id = $1 AND generation = $2 AND status <> 'unsubscribed'",
            )
            .bind(subscriber_id)
            .bind(generation)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("unsubscribe")?;
            let current: Option<i64> =
                sqlx::query_scalar("SELECT generation FROM subscribers WHERE id = $1")
                    .bind(subscriber_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("read generation")?;
            tx.commit().await.context("commit unsubscribe")?;
            Ok(current == Some(generation))
        })
    }

    /// Replaces an active subscriber's preferences; `false` unless active in `generation`.
    #[tracing::instrument(skip_all, fields(subscriber_id))]
    pub async fn update_preferences(
        &self,
        subscriber_id: i64,
        generation: i64,
        prefs: &Preferences,
    ) -> anyhow::Result<bool> {
        let lock = self.row_lock();
        write_tx!(self, |tx| {
            let ok: Option<i64> = sqlx::query_scalar(&format!(
                "SELECT id FROM subscribers WHERE id = $1 AND generation = $2 AND status = 'active'{lock}"
            ))
            .bind(subscriber_id)
            .bind(generation)
            .fetch_optional(&mut *tx)
            .await
            .context("check subscriber")?;
            if ok.is_some() {
                write_prefs!(tx, subscriber_id, prefs);
            }
            tx.commit().await.context("commit preferences")?;
            Ok(ok.is_some())
        })
    }

    /// Stores manage tokens (already hashed) for the links of outgoing mail, e.g. digests:
    /// `(subscriber_id, generation, hash)` each; never expiring.
    pub async fn insert_manage_tokens(
        &self,
        tokens: &[(i64, i64, String)],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        for chunk in tokens.chunks(super::MAX_BATCH) {
            write_tx!(self, |tx| {
                for (id, generation, hash) in chunk {
                    insert_token!(
                        tx,
                        hash,
                        *id,
                        TokenKind::Manage,
                        *generation,
                        now_ms,
                        None::<i64>
                    );
                }
                tx.commit().await.context("commit manage tokens")?;
            });
        }
        Ok(())
    }
}
