//! What the delivery loops read of the run figures kept as counters (migration 0211): which
//! runs are finished, the queue depth, and the folding of PostgreSQL's per-statement deltas
//! into the runs' own columns. None of it reads deliveries.

use anyhow::Context;

use super::{
    Backend, Store, read_pool,
    statistics::{MIN_CHANGES, Table},
    write_tx,
};
use crate::domain::RunStatus;

/// `$2, $3, …`: one placeholder per id after the first `skip` parameters.
fn placeholders(skip: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", skip + 1 + i))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Marks finished every running run with nothing queued: `done`, or `done_with_failures`
    /// when a delivery failed or stayed uncertain. Returns `(id, status)`. A run still
    /// `planning` is never finished here, though nothing may be queued between two of its
    /// chunks: its last chunk makes it `running` (see `planning`).
    pub async fn finish_runs(&self, now_ms: i64) -> anyhow::Result<Vec<(i64, RunStatus)>> {
        // The runs are locked first (in id order, skipping those another process holds), so
        // the figures are read after any change that reopened one of them (a retry queues
        // deliveries and reopens the run in one transaction) has committed.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        write_tx!(self, |tx| {
            let running: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT id FROM runs WHERE status = 'running' ORDER BY id{lock}"
            ))
            .fetch_all(&mut *tx)
            .await
            .context("lock running runs")?;
            let mut done: Vec<(i64, String)> = Vec::new();
            for chunk in running.chunks(super::MAX_BATCH) {
                let sql = format!(
                    "UPDATE runs SET finished_at = $1, status = CASE
                       WHEN f.failed + f.uncertain > 0 THEN 'done_with_failures' ELSE 'done' END
                     FROM run_figures f
                     WHERE f.run_id = runs.id AND f.queued = 0 AND runs.status = 'running'
                       AND runs.id IN ({})
                     RETURNING id, status",
                    placeholders(1, chunk.len())
                );
                let mut q = sqlx::query_as(&sql).bind(now_ms);
                for id in chunk {
                    q = q.bind(id);
                }
                done.extend(q.fetch_all(&mut *tx).await.context("finish runs")?);
            }
            tx.commit().await.context("commit finished runs")?;
            self.after_finished(&done).await?;
            done.into_iter()
                .map(|(id, status)| Ok((id, RunStatus::parse(&status)?)))
                .collect()
        })
    }

    /// A big run that finished left dead row versions of its deliveries behind (three or so
    /// each, on PostgreSQL): the table is vacuumed, in the background.
    async fn after_finished(&self, done: &[(i64, String)]) -> anyhow::Result<()> {
        for (id, _) in done {
            let total: Option<i64> = read_pool!(self, |p| sqlx::query_scalar(
                "SELECT total FROM run_figures WHERE run_id = $1"
            )
            .bind(id)
            .fetch_optional(p)
            .await
            .context("read a finished run's size"))?;
            if total.is_some_and(|n| n as u64 >= MIN_CHANGES) {
                self.vacuum_soon(Table::Deliveries);
            }
        }
        Ok(())
    }

    /// Deliveries waiting to be sent (not tried yet, deferred, or uncertain awaiting their
    /// retry): the queue depth, from the counters of the running runs and of those still
    /// planning (their planned chunks are claimable).
    pub async fn pending_deliveries(&self) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(f.queued), 0) AS BIGINT)
             FROM runs r JOIN run_figures f ON f.run_id = r.id
             WHERE r.status IN ('running', 'planning')"
        )
        .fetch_one(p)
        .await
        .context("queue depth"))
    }

    /// Adds the figure deltas that PostgreSQL's triggers appended to their runs' columns and
    /// deletes them, so that reading a run's figures stays a few rows. Runs another process
    /// is folding or finishing are left for the next time. Nothing to do on SQLite, whose
    /// triggers update the runs directly.
    pub async fn fold_run_figures(&self) -> anyhow::Result<()> {
        let Some(pool) = self.pg_pool() else {
            return Ok(());
        };
        let mut tx = pool.begin().await.context("begin folding figures")?;
        // Locked in id order, as `finish_runs` does, so neither waits on the other in turn.
        let runs: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE id IN (SELECT run_id FROM run_figure_deltas)
             ORDER BY id FOR UPDATE SKIP LOCKED",
        )
        .fetch_all(&mut *tx)
        .await
        .context("lock runs with figure deltas")?;
        let mut folded = 0;
        if !runs.is_empty() {
            // A new statement, so a new snapshot: every delta committed before the locks
            // were granted is moved, and one committed later stays for the next fold.
            folded = sqlx::query_scalar::<_, i64>(
                "WITH d AS (DELETE FROM run_figure_deltas WHERE run_id = ANY($1)
                            RETURNING *),
                      s AS (SELECT run_id, COUNT(*) AS n, SUM(total) AS total, SUM(sent) AS sent,
                              SUM(skipped) AS skipped, SUM(deferred) AS deferred,
                              SUM(failed) AS failed, SUM(bounced) AS bounced,
                              SUM(uncertain) AS uncertain, SUM(pending) AS pending,
                              SUM(queued) AS queued
                            FROM d GROUP BY run_id)
                 UPDATE runs r SET total = r.total + s.total, sent = r.sent + s.sent,
                    skipped = r.skipped + s.skipped, deferred = r.deferred + s.deferred,
                    failed = r.failed + s.failed, bounced = r.bounced + s.bounced,
                    uncertain = r.uncertain + s.uncertain, pending = r.pending + s.pending,
                    queued = r.queued + s.queued
                 FROM s WHERE r.id = s.run_id
                 RETURNING s.n",
            )
            .bind(&runs)
            .fetch_all(&mut *tx)
            .await
            .context("fold figure deltas")?
            .into_iter()
            .sum();
        }
        tx.commit().await.context("commit folded figures")?;
        // Each folded delta left a dead row version behind.
        self.note_deleted(Table::RunFigureDeltas, folded.max(0) as u64);
        Ok(())
    }
}
