//! One commit window of the delivery ledger: the intents to send and the outcomes that arrived
//! while the previous window committed, applied in one transaction (group commit). Sent and
//! skipped deliveries (nearly all of them) take a few multi-row statements rather than two
//! statements each: on SQLite every statement is a round trip to the connection's thread.

use std::collections::{HashMap, HashSet};

use anyhow::Context;

use super::{
    Store,
    ledger::{Outcome, Recorded, RetryPolicy},
    write_tx,
};

/// Rows per multi-row statement. Far below the bind limits (SQLite 32,766, PostgreSQL 65,535),
/// and small because SQLite finds each `$N` by a walk through the statement's parameter list
/// when it is bound: binding costs the square of the parameter count.
pub(super) const CHUNK: usize = 100;

/// `($first, $first+1, …), (…)`: `rows` tuples of `width` placeholders.
fn tuples(first: usize, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (0..width)
                .map(|c| format!("${}", first + r * width + c))
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A worker's request to send one claimed delivery now.
#[derive(Debug, Clone)]
pub struct Intent {
    pub delivery: i64,
    pub owner: String,
}

/// The ledger's answer to an [`Intent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentAnswer {
    /// Still held and the subscriber still active: the intent is recorded, send it.
    Go,
    /// The lease passed to another worker (or the delivery is already final): do not send.
    Lost,
    /// The subscriber unsubscribed, bounced or was erased since the claim: recorded as
    /// skipped, do not send.
    Inactive,
}

/// An outcome and the worker that reports it.
#[derive(Debug, Clone)]
pub struct Reported {
    pub owner: String,
    pub outcome: Outcome,
}

/// What a commit window did.
#[derive(Debug, Default)]
pub struct Window {
    /// One answer per intent, in order.
    pub answers: Vec<IntentAnswer>,
    /// One flag per outcome, in order: applied (false: the lease had passed on).
    pub applied: Vec<bool>,
    pub recorded: Recorded,
}

impl Store {
    /// Applies `intents` and `outcomes` in one transaction. An intent is granted only while
    /// its worker holds the lease and the subscriber is active; it marks the delivery as being
    /// sent and extends the lease to `lease_until`. Outcomes other than `Sent` apply only
    /// while their worker holds the lease; a sent or skipped delivery advances the
    /// subscriber's watermark for the schedule in the same transaction.
    #[tracing::instrument(skip_all, fields(intents = intents.len(), outcomes = outcomes.len()))]
    pub async fn commit_window(
        &self,
        now_ms: i64,
        lease_until: i64,
        policy: &RetryPolicy,
        intents: &[Intent],
        outcomes: &[Reported],
    ) -> anyhow::Result<Window> {
        write_tx!(self, |tx| {
            let mut w = Window::default();
            // --- intents: granted, inactive (skipped now) or lost.
            let mut granted: HashSet<i64> = HashSet::new();
            for chunk in intents.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE deliveries SET sending_at = $1, lease_until = $2
                     FROM (VALUES {}) AS v
                     WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2
                       AND deliveries.status = 'pending' AND deliveries.sending_at IS NULL
                       AND EXISTS (SELECT 1 FROM subscribers s
                                   WHERE s.id = deliveries.subscriber_id AND s.status = 'active')
                     RETURNING deliveries.id",
                    tuples(3, chunk.len(), 2)
                );
                let mut q = sqlx::query_scalar(&sql).bind(now_ms).bind(lease_until);
                for i in chunk {
                    q = q.bind(i.delivery).bind(i.owner.as_str());
                }
                let ids: Vec<i64> = q.fetch_all(&mut *tx).await.context("record intents")?;
                granted.extend(ids);
            }
            let refused: Vec<&Intent> = intents
                .iter()
                .filter(|i| !granted.contains(&i.delivery))
                .collect();
            let mut inactive: HashSet<i64> = HashSet::new();
            for chunk in refused.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE deliveries SET status = 'skipped', last_error = $1,
                        sending_at = NULL, lease_owner = NULL, lease_until = NULL
                     FROM (VALUES {}) AS v
                     WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2
                       AND deliveries.status = 'pending' AND deliveries.sending_at IS NULL
                     RETURNING deliveries.id",
                    tuples(2, chunk.len(), 2)
                );
                let mut q = sqlx::query_scalar(&sql)
                    .bind("the subscriber was no longer active when the mail was due");
                for i in chunk {
                    q = q.bind(i.delivery).bind(i.owner.as_str());
                }
                let ids: Vec<i64> = q
                    .fetch_all(&mut *tx)
                    .await
                    .context("skip deliveries of inactive subscribers")?;
                inactive.extend(ids);
            }
            w.answers = intents
                .iter()
                .map(|i| {
                    if granted.contains(&i.delivery) {
                        IntentAnswer::Go
                    } else if inactive.contains(&i.delivery) {
                        IntentAnswer::Inactive
                    } else {
                        IntentAnswer::Lost
                    }
                })
                .collect();
            w.recorded.skipped += inactive.len() as u64;

            // --- sent: a fact, recorded whoever holds the lease now.
            let mut applied: HashSet<i64> = HashSet::with_capacity(outcomes.len());
            let sent: Vec<(i64, &str)> = outcomes
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Sent {
                        claim, message_id, ..
                    } => Some((claim.id, message_id.as_str())),
                    _ => None,
                })
                .collect();
            for chunk in sent.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE deliveries SET status = 'sent', attempts = attempts + 1,
                        last_error = NULL, message_id = v.column2, sent_at = $1,
                        last_attempt_at = $1, sending_at = NULL,
                        lease_owner = NULL, lease_until = NULL
                     FROM (VALUES {}) AS v
                     WHERE deliveries.id = v.column1
                       AND deliveries.status IN ('pending', 'uncertain')
                     RETURNING deliveries.id",
                    tuples(2, chunk.len(), 2)
                );
                let mut q = sqlx::query_scalar(&sql).bind(now_ms);
                for (id, message_id) in chunk {
                    q = q.bind(*id).bind(*message_id);
                }
                let ids: Vec<i64> = q
                    .fetch_all(&mut *tx)
                    .await
                    .context("record sent deliveries")?;
                applied.extend(ids);
            }
            // --- skipped (nothing new): only by the holder.
            let skipped: Vec<(i64, &str)> = outcomes
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Skipped { claim, .. } => Some((claim.id, r.owner.as_str())),
                    _ => None,
                })
                .collect();
            for chunk in skipped.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE deliveries SET status = 'skipped', last_error = NULL,
                        sending_at = NULL, lease_owner = NULL, lease_until = NULL
                     FROM (VALUES {}) AS v
                     WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2
                       AND deliveries.status = 'pending'
                     RETURNING deliveries.id",
                    tuples(1, chunk.len(), 2)
                );
                let mut q = sqlx::query_scalar(&sql);
                for (id, owner) in chunk {
                    q = q.bind(*id).bind(*owner);
                }
                let ids: Vec<i64> = q
                    .fetch_all(&mut *tx)
                    .await
                    .context("record skipped deliveries")?;
                applied.extend(ids);
            }

            // One watermark per (subscriber, schedule): a window may hold two runs of one
            // schedule, and one statement may not upsert the same row twice.
            let mut marks: HashMap<(i64, &str), i64> = HashMap::new();
            for r in outcomes {
                let (claim, schedule, cutoff) = match &r.outcome {
                    Outcome::Sent {
                        claim,
                        schedule,
                        cutoff,
                        ..
                    }
                    | Outcome::Skipped {
                        claim,
                        schedule,
                        cutoff,
                    } => (claim, schedule, *cutoff),
                    _ => continue,
                };
                if !applied.contains(&claim.id) {
                    continue;
                }
                if matches!(r.outcome, Outcome::Sent { .. }) {
                    w.recorded.sent += 1
                } else {
                    w.recorded.skipped += 1
                }
                let m = marks
                    .entry((claim.subscriber_id, schedule.as_str()))
                    .or_insert(cutoff);
                *m = (*m).max(cutoff);
            }
            let marks: Vec<_> = marks.into_iter().collect();
            for chunk in marks.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO watermarks (subscriber_id, schedule, visible_until) VALUES {}
                     ON CONFLICT (subscriber_id, schedule) DO UPDATE SET visible_until =
                       CASE WHEN excluded.visible_until > watermarks.visible_until
                            THEN excluded.visible_until ELSE watermarks.visible_until END",
                    tuples(1, chunk.len(), 3)
                );
                let mut q = sqlx::query(&sql);
                for ((subscriber, schedule), cutoff) in chunk {
                    q = q.bind(*subscriber).bind(*schedule).bind(*cutoff);
                }
                q.execute(&mut *tx).await.context("advance watermarks")?;
            }

            // --- everything else is rare: one statement each, only by the holder.
            for r in outcomes {
                let claim = r.outcome.claim();
                let done = match &r.outcome {
                    Outcome::Sent { .. } | Outcome::Skipped { .. } => continue,
                    Outcome::Transient {
                        claim,
                        error,
                        retry_at,
                    } => {
                        let last = claim.attempts + 1 >= policy.max_attempts;
                        let status = if last { "failed" } else { "pending" };
                        let ok = sqlx::query(
                            "UPDATE deliveries SET status = $3, attempts = attempts + 1,
                                last_error = $4, next_attempt_at = $5, last_attempt_at = $6,
                                sending_at = NULL, lease_owner = NULL, lease_until = NULL
                             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                        )
                        .bind(claim.id)
                        .bind(r.owner.as_str())
                        .bind(status)
                        .bind(error.as_str())
                        .bind(*retry_at)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await
                        .context("record a transient failure")?
                        .rows_affected()
                            == 1;
                        if ok && last {
                            w.recorded.failed += 1;
                        } else if ok {
                            w.recorded.retried += 1;
                        }
                        ok
                    }
                    Outcome::Permanent { claim, error } => {
                        let ok = sqlx::query(
                            "UPDATE deliveries SET status = 'bounced', attempts = attempts + 1,
                                last_error = $3, last_attempt_at = $4,
                                sending_at = NULL, lease_owner = NULL, lease_until = NULL
                             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                        )
                        .bind(claim.id)
                        .bind(r.owner.as_str())
                        .bind(error.as_str())
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await
                        .context("record a bounce")?
                        .rows_affected()
                            == 1;
                        if ok {
                            sqlx::query(
                                "UPDATE subscribers SET status = 'bounced', bounced_at = $2
                                 WHERE id = $1 AND status = 'active'",
                            )
                            .bind(claim.subscriber_id)
                            .bind(now_ms)
                            .execute(&mut *tx)
                            .await
                            .context("mark subscriber bounced")?;
                            w.recorded.bounced += 1;
                        }
                        ok
                    }
                    Outcome::Uncertain { claim, error } => {
                        let ok = sqlx::query(
                            "UPDATE deliveries SET attempts = attempts + 1,
                                uncertain = uncertain + 1,
                                status = CASE WHEN uncertain + 1 >= $6
                                              THEN 'uncertain' ELSE 'pending' END,
                                last_error = $3, last_attempt_at = $4, next_attempt_at = $4 + $5,
                                sending_at = NULL, lease_owner = NULL, lease_until = NULL
                             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                        )
                        .bind(claim.id)
                        .bind(r.owner.as_str())
                        .bind(error.as_str())
                        .bind(now_ms)
                        .bind(policy.uncertain_retry_ms)
                        .bind(policy.uncertain_limit())
                        .execute(&mut *tx)
                        .await
                        .context("record an uncertain delivery")?
                        .rows_affected()
                            == 1;
                        if ok {
                            w.recorded.uncertain += 1;
                        }
                        ok
                    }
                    Outcome::GiveBack {
                        claim,
                        error,
                        retry_at,
                    } => {
                        let ok = sqlx::query(
                            "UPDATE deliveries SET last_error = COALESCE($3, last_error),
                                next_attempt_at = COALESCE($4, next_attempt_at),
                                sending_at = NULL, lease_owner = NULL, lease_until = NULL
                             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                        )
                        .bind(claim.id)
                        .bind(r.owner.as_str())
                        .bind(error.as_deref())
                        .bind(*retry_at)
                        .execute(&mut *tx)
                        .await
                        .context("give a delivery back")?
                        .rows_affected()
                            == 1;
                        if ok {
                            w.recorded.returned += 1;
                        }
                        ok
                    }
                };
                if done {
                    applied.insert(claim.id);
                }
            }
            tx.commit().await.context("commit delivery window")?;
            w.applied = outcomes
                .iter()
                .map(|r| applied.contains(&r.outcome.claim().id))
                .collect();
            w.recorded.stale = w.applied.iter().filter(|a| !**a).count() as u64;
            Ok(w)
        })
    }

    /// Records `outcomes` of one worker in one transaction (a commit window without intents).
    pub async fn record_outcomes(
        &self,
        owner: &str,
        now_ms: i64,
        policy: &RetryPolicy,
        outcomes: &[Outcome],
    ) -> anyhow::Result<Recorded> {
        let reported: Vec<Reported> = outcomes
            .iter()
            .map(|o| Reported {
                owner: owner.to_owned(),
                outcome: o.clone(),
            })
            .collect();
        Ok(self
            .commit_window(now_ms, 0, policy, &[], &reported)
            .await?
            .recorded)
    }
}
