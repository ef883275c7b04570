//! Importing subscribers who already consented: active at once, confirmed at import, and
//! never re-subscribing someone who unsubscribed or bounced.

use anyhow::Context;

use super::{Store, subscribers::write_prefs, write_tx};
use crate::domain::{Preferences, SubscriberStatus};

/// One valid row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub email: String,
    pub prefs: Preferences,
}

/// What an import did with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new active subscriber.
    Created,
    /// An existing pending or active subscriber, now active with the row's choices.
    Updated,
    /// Left alone: this person unsubscribed or bounced, and an import must not undo that.
    Skipped(SubscriberStatus),
}

impl Store {
    /// Imports already-consented rows as active subscribers, confirmed now; one transaction.
    #[tracing::instrument(skip_all, fields(rows = rows.len()))]
    pub async fn import_subscribers(
        &self,
        rows: &[ImportRow],
        now_ms: i64,
    ) -> anyhow::Result<Vec<ImportOutcome>> {
        let lock = self.row_lock();
        write_tx!(self, |tx| {
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO subscribers (email, status, all_sections, schedule, locale,
                        generation, created_at, confirmed_at, source)
                     VALUES ($1, 'active', TRUE, $2, $3, 1, $4, $4, 'import')
                     ON CONFLICT (email) DO NOTHING RETURNING id",
                )
                .bind(&row.email)
                .bind(&row.prefs.schedule)
                .bind(&row.prefs.locale)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await
                .context("insert imported subscriber")?;
                let outcome = if let Some(id) = inserted {
                    write_prefs!(tx, id, &row.prefs);
                    ImportOutcome::Created
                } else {
                    let (id, status): (i64, String) = sqlx::query_as(&format!(
                        "SELECT id, status FROM subscribers WHERE email = $1{lock}"
                    ))
                    .bind(&row.email)
                    .fetch_one(&mut *tx)
                    .await
                    .context("read subscriber")?;
                    match SubscriberStatus::parse(&status)? {
                        s @ (SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced) => {
                            ImportOutcome::Skipped(s)
                        }
                        _ => {
                            sqlx::query(
                                "UPDATE subscribers SET status = 'active',
                                    confirmed_at = COALESCE(confirmed_at, $2) WHERE id = $1",
                            )
                            .bind(id)
                            .bind(now_ms)
                            .execute(&mut *tx)
                            .await
                            .context("activate imported subscriber")?;
                            write_prefs!(tx, id, &row.prefs);
                            ImportOutcome::Updated
                        }
                    }
                };
                out.push(outcome);
            }
            tx.commit().await.context("commit import")?;
            self.note_imported(rows.len() as u64);
            Ok(out)
        })
    }
}
