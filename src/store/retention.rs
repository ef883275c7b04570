//! Retention of deliveries (`digests.keep_days`): the deliveries of runs that finished before a
//! cutoff are deleted a small batch per transaction, in (run, subscriber) order, so that a
//! batch reads what it deletes and not what earlier batches left behind. The runs keep their
//! figures (counters no deletion changes) and are marked purged once nothing of theirs is left.
//! Nothing else refers to a delivery: tokens and watermarks belong to the subscriber, and a
//! recorded bounce keeps its delivery id (the console shows it without the delivery).

use anyhow::Context;

use super::{
    Backend, Store,
    statistics::{MIN_CHANGES, Table},
    write_tx,
};

/// Where a purge stands: the run being purged and the last subscriber whose delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePosition {
    pub run: i64,
    pub subscriber: i64,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub deleted: u64,
    /// Where the next batch goes on; `None` once the run has nothing left (then purged).
    pub next: Option<PurgePosition>,
}

impl Store {
    /// Deletes up to `limit` deliveries of a run finished before `cutoff_ms`, in one
    /// transaction: of the run at `from` after its subscriber (while it still qualifies), else
    /// of the earliest finished run not purged yet. `None` when no run qualifies. A run reopened meanwhile (a retry of
    /// its failed deliveries) no longer qualifies; one that has nothing left is marked purged
    /// at `now_ms`.
    pub async fn purge_deliveries(
        &self,
        cutoff_ms: i64,
        now_ms: i64,
        from: Option<PurgePosition>,
        limit: i64,
    ) -> anyhow::Result<Option<Purged>> {
        // The run is share-locked: a retry that would reopen it waits for this batch, and this
        // batch skips the deliveries the retry already holds. Two processes purging the same
        // run take different deliveries.
        let (share, skip) = match self.backend() {
            Backend::Postgres => (" FOR SHARE", " FOR UPDATE SKIP LOCKED"),
            Backend::Sqlite => ("", ""),
        };
        let eligible = "status IN ('done', 'done_with_failures') AND finished_at < $1
                        AND purged_at IS NULL";
        write_tx!(self, |tx| {
            let mut run: Option<i64> = None;
            if let Some(p) = from {
                run = sqlx::query_scalar(&format!(
                    "SELECT id FROM runs WHERE id = $2 AND {eligible}{share}"
                ))
                .bind(cutoff_ms)
                .bind(p.run)
                .fetch_optional(&mut *tx)
                .await
                .context("lock the run being purged")?;
            }
            if run.is_none() {
                run = sqlx::query_scalar(&format!(
                    "SELECT id FROM runs WHERE {eligible} ORDER BY finished_at, id LIMIT 1{share}"
                ))
                .bind(cutoff_ms)
                .fetch_optional(&mut *tx)
                .await
                .context("pick a run to purge")?;
            }
            let Some(run) = run else {
                tx.commit().await.context("commit purge")?;
                return Ok(None);
            };
            let after = from
                .filter(|p| p.run == run)
                .map_or(i64::MIN, |p| p.subscriber);
            // (run_id, subscriber_id) is the unique index of deliveries: a range scan from
            // where the last batch stopped.
            let gone: Vec<i64> = sqlx::query_scalar(&format!(
                "DELETE FROM deliveries WHERE id IN
                   (SELECT id FROM deliveries WHERE run_id = $1 AND subscriber_id > $2
                    ORDER BY subscriber_id LIMIT $3{skip})
                 RETURNING subscriber_id"
            ))
            .bind(run)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .context("delete old deliveries")?;
            let deleted = gone.len() as u64;
            let mut next = gone
                .iter()
                .max()
                .map(|&subscriber| PurgePosition { run, subscriber });
            if deleted < limit as u64 {
                // The end of the run; rows another transaction held were skipped: look again.
                let left: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM deliveries WHERE run_id = $1 LIMIT 1")
                        .bind(run)
                        .fetch_optional(&mut *tx)
                        .await
                        .context("look for deliveries left")?;
                next = left.map(|_| PurgePosition {
                    run,
                    subscriber: i64::MIN,
                });
                if left.is_none() {
                    sqlx::query("UPDATE runs SET purged_at = $2 WHERE id = $1")
                        .bind(run)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await
                        .context("mark run purged")?;
                }
            }
            tx.commit().await.context("commit purge")?;
            Ok(Some(Purged { deleted, next }))
        })
    }

    /// Deletes up to `limit` web copies (`digest_copies`) of the earliest run that finished
    /// before `cutoff_ms` and still has any; how many went (0: no run qualifies). A reopened
    /// run (no `finished_at`) keeps its copies until it finishes again.
    pub async fn purge_digest_copies(&self, cutoff_ms: i64, limit: i64) -> anyhow::Result<u64> {
        write_tx!(self, |tx| {
            let run: Option<i64> = sqlx::query_scalar(
                "SELECT r.id FROM runs r WHERE r.finished_at < $1
                   AND EXISTS (SELECT 1 FROM digest_copies k WHERE k.run_id = r.id)
                 ORDER BY r.id LIMIT 1",
            )
            .bind(cutoff_ms)
            .fetch_optional(&mut *tx)
            .await
            .context("pick a run whose web copies go")?;
            let Some(run) = run else {
                tx.commit().await.context("commit copy purge")?;
                return Ok(0);
            };
            let gone = sqlx::query(
                "DELETE FROM digest_copies WHERE delivery_id IN
                   (SELECT delivery_id FROM digest_copies WHERE run_id = $1 LIMIT $2)",
            )
            .bind(run)
            .bind(limit)
            .execute(&mut *tx)
            .await
            .context("delete old web copies")?
            .rows_affected();
            tx.commit().await.context("commit copy purge")?;
            Ok(gone)
        })
    }

    /// After a retention pass deleted `deleted` deliveries: when that is many, the table is
    /// vacuumed and analyzed in the background (their space is reused, their index entries go).
    pub fn deliveries_purged(&self, deleted: u64) {
        if deleted >= MIN_CHANGES {
            self.vacuum_soon(Table::Deliveries);
        }
    }
}
