//! Recording what happened to a batch of claimed deliveries, in one transaction. Sent and
//! skipped deliveries (nearly all of a batch) take a few multi-row statements rather than two
//! statements each: on SQLite every statement is a round trip to the connection's thread.

use std::collections::{HashMap, HashSet};

use anyhow::Context;

use super::{
    Store,
    ledger::{Outcome, Recorded},
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

impl Store {
    /// Applies a batch of outcomes in one transaction. Each is applied only while `owner` still
    /// holds that delivery's lease; a sent or skipped delivery advances the subscriber's
    /// watermark for the schedule in the same transaction.
    #[tracing::instrument(skip_all, fields(n = outcomes.len()))]
    pub async fn record_outcomes(
        &self,
        owner: &str,
        now_ms: i64,
        max_attempts: i64,
        outcomes: &[Outcome],
    ) -> anyhow::Result<Recorded> {
        let mut r = Recorded::default();
        let mut sent: Vec<(i64, &str)> = Vec::new();
        let mut skipped: Vec<i64> = Vec::new();
        for o in outcomes {
            match o {
                Outcome::Sent {
                    claim, message_id, ..
                } => sent.push((claim.id, message_id)),
                Outcome::Skipped { claim, .. } => skipped.push(claim.id),
                _ => {}
            }
        }
        write_tx!(self, |tx| {
            // Ids whose lease `owner` still held: only those are marked, and only they move
            // their subscriber's watermark.
            let mut applied: HashSet<i64> = HashSet::with_capacity(outcomes.len());
            for chunk in sent.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE deliveries SET status = 'sent', attempts = attempts + 1,
                        last_error = NULL, message_id = v.column2, sent_at = $2,
                        lease_owner = NULL, lease_until = NULL
                     FROM (VALUES {}) AS v
                     WHERE deliveries.id = v.column1 AND deliveries.lease_owner = $1
                       AND deliveries.status = 'pending'
                     RETURNING deliveries.id",
                    tuples(3, chunk.len(), 2)
                );
                let mut q = sqlx::query_scalar(&sql).bind(owner).bind(now_ms);
                for (id, message_id) in chunk {
                    q = q.bind(*id).bind(*message_id);
                }
                let ids: Vec<i64> = q
                    .fetch_all(&mut *tx)
                    .await
                    .context("record sent deliveries")?;
                applied.extend(ids);
            }
            for chunk in skipped.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE deliveries SET status = 'skipped', last_error = NULL,
                        lease_owner = NULL, lease_until = NULL
                     WHERE id IN ({}) AND lease_owner = $1 AND status = 'pending'
                     RETURNING id",
                    (2..2 + chunk.len())
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut q = sqlx::query_scalar(&sql).bind(owner);
                for id in chunk {
                    q = q.bind(*id);
                }
                let ids: Vec<i64> = q
                    .fetch_all(&mut *tx)
                    .await
                    .context("record skipped deliveries")?;
                applied.extend(ids);
            }

            // One watermark per (subscriber, schedule): a batch may hold two runs of one
            // schedule, and one statement may not upsert the same row twice.
            let mut marks: HashMap<(i64, &str), i64> = HashMap::new();
            for o in outcomes {
                let (claim, schedule, cutoff) = match o {
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
                    r.stale += 1;
                    continue;
                }
                if matches!(o, Outcome::Sent { .. }) {
                    r.sent += 1
                } else {
                    r.skipped += 1
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

            // Failures are few: one at a time.
            for o in outcomes {
                let (claim, status, error, retry_at) = match o {
                    Outcome::Transient {
                        claim,
                        error,
                        retry_at,
                    } => {
                        let last = claim.attempts + 1 >= max_attempts;
                        let status = if last { "failed" } else { "pending" };
                        (claim, status, error, Some(*retry_at))
                    }
                    Outcome::Permanent { claim, error } => (claim, "failed", error, None),
                    _ => continue,
                };
                let applied = sqlx::query(
                    "UPDATE deliveries SET status = $3, attempts = attempts + 1, last_error = $4,
                        next_attempt_at = COALESCE($5, next_attempt_at),
                        lease_owner = NULL, lease_until = NULL
                     WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                )
                .bind(claim.id)
                .bind(owner)
                .bind(status)
                .bind(error.as_str())
                .bind(retry_at)
                .execute(&mut *tx)
                .await
                .context("record delivery failure")?
                .rows_affected()
                    == 1;
                if !applied {
                    r.stale += 1;
                    continue;
                }
                match o {
                    Outcome::Permanent { .. } => {
                        sqlx::query(
                            "UPDATE subscribers SET status = 'bounced', bounced_at = $2
                             WHERE id = $1 AND status = 'active'",
                        )
                        .bind(claim.subscriber_id)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await
                        .context("mark subscriber bounced")?;
                        r.bounced += 1;
                    }
                    _ if status == "failed" => r.failed += 1,
                    _ => r.retried += 1,
                }
            }
            tx.commit().await.context("commit delivery outcomes")?;
        });
        Ok(r)
    }
}
