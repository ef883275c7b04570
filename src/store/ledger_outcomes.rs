//! One commit window of the delivery ledger: the intents to send and the outcomes that arrived
//! while the previous window committed, applied in one transaction (group commit). Sent and
//! skipped deliveries (nearly all of them) take a few multi-row statements rather than two
//! statements each: on SQLite every statement is a round trip to the connection's thread.

use std::collections::{HashMap, HashSet};

use anyhow::Context;

use super::{
    Store,
    ledger::{Intent, IntentAnswer, Outcome, Recorded, Reported, RetryPolicy, Window},
    statistics::Table,
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

/// Settles one delivery its holder still holds: every outcome but sent and skipped. An
/// uncertain outcome stays `pending` (for its one retry) until the delivery has had
/// `$9` of them.
const SETTLE: &str = "UPDATE deliveries SET
        status = CASE WHEN $5 = 1 AND uncertain + 1 < $9 THEN 'pending' ELSE $3 END,
        attempts = attempts + $4, uncertain = uncertain + $5,
        last_error = COALESCE($6, last_error),
        next_attempt_at = COALESCE($7, next_attempt_at),
        last_attempt_at = COALESCE($8, last_attempt_at),
        sending_at = NULL, lease_owner = NULL, lease_until = NULL
     WHERE id = $1 AND lease_owner = $2 AND status = 'pending'";

/// What [`SETTLE`] writes for one outcome.
struct Settle<'a> {
    status: &'static str,
    /// An answer about the message: spends an attempt.
    attempt: bool,
    uncertain: bool,
    error: Option<&'a str>,
    next_attempt_at: Option<i64>,
    attempted_at: Option<i64>,
}

impl<'a> Settle<'a> {
    fn of(o: &'a Outcome, now_ms: i64, policy: &RetryPolicy) -> Option<Self> {
        Some(match o {
            Outcome::Sent { .. } | Outcome::Skipped { .. } => return None,
            Outcome::Transient {
                claim,
                error,
                retry_at,
            } => Settle {
                status: if claim.attempts + 1 >= policy.max_attempts {
                    "failed"
                } else {
                    "pending"
                },
                attempt: true,
                uncertain: false,
                error: Some(error),
                next_attempt_at: Some(*retry_at),
                attempted_at: Some(now_ms),
            },
            Outcome::Permanent { error, .. } => Settle {
                status: "bounced",
                attempt: true,
                uncertain: false,
                error: Some(error),
                next_attempt_at: None,
                attempted_at: Some(now_ms),
            },
            Outcome::Uncertain { error, .. } => Settle {
                status: "uncertain",
                attempt: true,
                uncertain: true,
                error: Some(error),
                next_attempt_at: Some(now_ms + policy.uncertain_retry_ms),
                attempted_at: Some(now_ms),
            },
            Outcome::GiveBack {
                error, retry_at, ..
            } => Settle {
                status: "pending",
                attempt: false,
                uncertain: false,
                error: error.as_deref(),
                next_attempt_at: *retry_at,
                attempted_at: None,
            },
        })
    }
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
                // No schedule (an announcement): no watermark to move.
                if schedule.is_empty() {
                    continue;
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
                let Some(st) = Settle::of(&r.outcome, now_ms, policy) else {
                    continue;
                };
                let claim = r.outcome.claim();
                let ok = sqlx::query(SETTLE)
                    .bind(claim.id)
                    .bind(r.owner.as_str())
                    .bind(st.status)
                    .bind(i64::from(st.attempt))
                    .bind(i64::from(st.uncertain))
                    .bind(st.error)
                    .bind(st.next_attempt_at)
                    .bind(st.attempted_at)
                    .bind(policy.uncertain_limit())
                    .execute(&mut *tx)
                    .await
                    .context("record a delivery outcome")?
                    .rows_affected()
                    == 1;
                if !ok {
                    continue;
                }
                applied.insert(claim.id);
                let counter = match st.status {
                    "failed" => &mut w.recorded.failed,
                    "bounced" => &mut w.recorded.bounced,
                    "uncertain" => &mut w.recorded.uncertain,
                    _ if st.attempt => &mut w.recorded.retried,
                    _ => &mut w.recorded.returned,
                };
                *counter += 1;
                if st.status == "bounced" {
                    sqlx::query(
                        "UPDATE subscribers SET status = 'bounced', bounced_at = $2,
                            suppressed_at = $2, suppressed_reason = 'hard_bounce',
                            suppressed_detail = $3
                         WHERE id = $1 AND status = 'active'",
                    )
                    .bind(claim.subscriber_id)
                    .bind(now_ms)
                    .bind(st.error)
                    .execute(&mut *tx)
                    .await
                    .context("mark subscriber bounced")?;
                }
            }
            tx.commit().await.context("commit delivery window")?;
            self.note_changes(Table::Watermarks, marks.len() as u64);
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
