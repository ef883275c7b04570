//! Claims of the delivery ledger: due deliveries leased to one worker, in claim order (oldest
//! due first, then id), at a cost that depends on the batch, not on the queue.
//!
//! The claim walks the partial index `deliveries_due (next_attempt_at, id)` of claimable rows
//! (migration 0210) and stops after its LIMIT. On PostgreSQL every row that left that index
//! (claimed again, sent, skipped…) leaves a dead entry behind until VACUUM, all of them before
//! the live ones: a claim from the start of the index reads them all. A worker therefore
//! passes where its previous claim ended ([`ClaimKey`]) and the claim starts there; a claim
//! without it (the first, one every few seconds, and whenever the queue runs short) starts at
//! the beginning, and it alone looks for deliveries orphaned by a stopped sender.
//!
//! No index reads `lease_owner` or `lease_until` (migration 0213), and the table keeps room on
//! each page: a claim and a lease renewal then change no indexed column, and PostgreSQL makes
//! them HOT updates (no new index entries, the old row version reclaimed with its page instead
//! of left for VACUUM). Leases are therefore renewed by the ids a loop holds, and orphans are
//! found among the deliveries being sent (`deliveries_sending`, on `sending_at`).

use anyhow::Context;

use super::{
    Backend, Store,
    ledger::{Claim, Claimed, ORPHAN_ERROR, RetryPolicy},
    write_tx,
};

/// A position in claim order: a delivery's `next_attempt_at` and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimKey {
    pub due: i64,
    pub id: i64,
}

impl Claimed {
    /// The claim-order position of the last delivery claimed, if any.
    pub fn last_key(&self) -> Option<ClaimKey> {
        self.claims.iter().map(Claim::key).max()
    }
}

impl Claim {
    /// This delivery's position in claim order.
    pub fn key(&self) -> ClaimKey {
        ClaimKey {
            due: self.next_attempt_at,
            id: self.id,
        }
    }
}

impl Store {
    /// Leases up to `limit` due deliveries to `owner` until `lease_until`, oldest due first
    /// (then by id). Expired leases of other workers are taken over; first, deliveries whose
    /// holder stopped after its intent to send (lease expired with `sending_at` set) become
    /// uncertain instead of claimable.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until: i64,
        limit: i64,
        policy: &RetryPolicy,
    ) -> anyhow::Result<Claimed> {
        self.claim_deliveries_after(owner, now_ms, lease_until, limit, policy, None)
            .await
    }

    /// [`Store::claim_deliveries`] starting after `after` in claim order, without the look
    /// for orphaned deliveries; from the beginning, with it, when `after` is `None`. Due
    /// deliveries before `after` (given back by another process, or left by one that
    /// stopped) wait for the next claim from the beginning.
    pub async fn claim_deliveries_after(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until: i64,
        limit: i64,
        policy: &RetryPolicy,
        after: Option<ClaimKey>,
    ) -> anyhow::Result<Claimed> {
        let skip_locked = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // A row locked by a process stopped inside its transaction is skipped, not waited for.
        let orphans_sql = format!(
            "UPDATE deliveries SET attempts = attempts + 1, uncertain = uncertain + 1,
                status = CASE WHEN uncertain + 1 >= $3 THEN 'uncertain' ELSE 'pending' END,
                next_attempt_at = $1 + $2, last_attempt_at = $1, last_error = $4,
                sending_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE id IN (SELECT id FROM deliveries
                          WHERE sending_at IS NOT NULL AND lease_until < $1
                            AND status = 'pending'{skip_locked})
             RETURNING id, run_id"
        );
        // The row comparison is an index condition of deliveries_due on both backends: the
        // walk starts at `after`, past the dead entries before it.
        let sql = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM deliveries
                          WHERE status = 'pending' AND next_attempt_at <= $3
                            AND (next_attempt_at, id) > ($5, $6)
                            AND (lease_until IS NULL OR lease_until < $3)
                            AND sending_at IS NULL
                          ORDER BY next_attempt_at, id LIMIT $4{skip_locked})
             RETURNING id, run_id, subscriber_id, attempts, next_attempt_at"
        );
        let from = after.unwrap_or(ClaimKey {
            due: i64::MIN,
            id: i64::MIN,
        });
        write_tx!(self, |tx| {
            let orphans: Vec<(i64, i64)> = if after.is_none() {
                sqlx::query_as(&orphans_sql)
                    .bind(now_ms)
                    .bind(policy.uncertain_retry_ms)
                    .bind(policy.uncertain_limit())
                    .bind(ORPHAN_ERROR)
                    .fetch_all(&mut *tx)
                    .await
                    .context("mark orphaned deliveries uncertain")?
            } else {
                Vec::new()
            };
            let mut claims: Vec<Claim> = sqlx::query_as(&sql)
                .bind(owner)
                .bind(lease_until)
                .bind(now_ms)
                .bind(limit)
                .bind(from.due)
                .bind(from.id)
                .fetch_all(&mut *tx)
                .await
                .context("claim deliveries")?;
            tx.commit().await.context("commit claims")?;
            // RETURNING follows no order: hand them out in claim order.
            claims.sort_unstable_by_key(Claim::key);
            Ok(Claimed { claims, orphans })
        })
    }

    /// Extends the lease of those of `ids` that `owner` still holds; returns their ids (a
    /// claimed delivery missing from the answer was taken over by another worker, or is
    /// finished). By primary key: no index reads the lease columns (migration 0213), so that a
    /// claim and a renewal change no indexed column and are HOT updates on PostgreSQL.
    pub async fn renew_leases(
        &self,
        owner: &str,
        ids: &[i64],
        lease_until: i64,
    ) -> anyhow::Result<Vec<i64>> {
        let mut held = Vec::with_capacity(ids.len());
        write_tx!(self, |tx| {
            for chunk in ids.chunks(super::MAX_BATCH) {
                let marks = (0..chunk.len())
                    .map(|i| format!("${}", i + 3))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "UPDATE deliveries SET lease_until = $2
                     WHERE id IN ({marks}) AND lease_owner = $1 AND status = 'pending'
                     RETURNING id"
                );
                let mut q = sqlx::query_scalar(&sql).bind(owner).bind(lease_until);
                for id in chunk {
                    q = q.bind(*id);
                }
                let renewed: Vec<i64> = q.fetch_all(&mut *tx).await.context("renew leases")?;
                held.extend(renewed);
            }
            tx.commit().await.context("commit lease renewal")?;
        });
        Ok(held)
    }
}
