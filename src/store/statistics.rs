//! Planner statistics and dead rows after bulk changes, kept by the service itself: it must
//! not depend on autovacuum being on or prompt (issue 15). A table whose statistics say it is
//! small while it holds a million rows gets sequential scans where an index lookup was meant.
//!
//! Writers note how many rows a committed bulk change touched ([`Store::note_changes`]); once
//! at least [`MIN_CHANGES`] rows, and a tenth of the table, changed since its last ANALYZE, the
//! table is analyzed in the background, on its own connection, never inside the writer's
//! transaction, one table at a time per process. After a big run has finished, or retention
//! deleted many deliveries, PostgreSQL's deliveries table is vacuumed as well (its dead row
//! versions and their index entries go, and the space is reused), and so is the run figures'
//! deltas table after every 10,000 deltas folded away. SQLite analyzes with a
//! sampling limit and has no dead rows to vacuum.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;

use super::{Db, Store};

/// Fewest changed rows that make a table worth analyzing again.
pub(super) const MIN_CHANGES: u64 = 10_000;

/// Rows SQLite reads per index when it analyzes (`PRAGMA analysis_limit`).
const SQLITE_ANALYSIS_LIMIT: u32 = 1000;

/// The tables bulk writes change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Table {
    Articles,
    Deliveries,
    RunFigureDeltas,
    Subscribers,
    SubscriberSections,
    Watermarks,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Articles => "articles",
            Table::Deliveries => "deliveries",
            Table::RunFigureDeltas => "run_figure_deltas",
            Table::Subscribers => "subscribers",
            Table::SubscriberSections => "subscriber_sections",
            Table::Watermarks => "watermarks",
        }
    }
}

#[derive(Default)]
struct TableState {
    /// Rows changed since the last ANALYZE began.
    changed: u64,
    /// Rows the table had at its last ANALYZE (0 before the first).
    rows: u64,
    busy: bool,
}

/// What each table of this process changed; shared by the store's clones.
#[derive(Default, Clone)]
pub(super) struct Statistics(Arc<Mutex<HashMap<Table, TableState>>>);

/// What to do to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Analyze,
    /// VACUUM (ANALYZE) on PostgreSQL; ANALYZE on SQLite.
    Vacuum,
}

impl Store {
    /// Notes that a committed bulk write changed `rows` rows of `table`; when enough changed
    /// since its last ANALYZE, starts one in the background.
    pub(super) fn note_changes(&self, table: Table, rows: u64) {
        self.note(table, rows, Work::Analyze);
    }

    /// Notes that `rows` rows of a small table that churns were deleted; once
    /// [`MIN_CHANGES`] of them are dead, the table is vacuumed in the background. The run
    /// figures' deltas are appended and folded away all through a run: after three 1M runs
    /// their table held 189 live rows and 353,579 dead ones while autovacuum had not come
    /// by, and the runs list, which reads the deltas not folded yet, reached 0.6 s.
    pub(super) fn note_deleted(&self, table: Table, rows: u64) {
        self.note(table, rows, Work::Vacuum);
    }

    /// Counts `rows` changed rows of `table`; starts `work` on it when enough have changed:
    /// [`MIN_CHANGES`], and for an ANALYZE also a tenth of the table.
    fn note(&self, table: Table, rows: u64, work: Work) {
        let due = {
            let mut all = self.stats.0.lock().expect("statistics lock");
            let t = all.entry(table).or_default();
            t.changed += rows;
            let floor = match work {
                Work::Analyze => MIN_CHANGES.max(t.rows / 10),
                Work::Vacuum => MIN_CHANGES,
            };
            let due = !t.busy && t.changed >= floor;
            t.busy |= due;
            due
        };
        if due {
            self.start(table, work);
        }
    }

    /// Notes an import of `rows` subscribers (each with their sections).
    pub(super) fn note_imported(&self, rows: u64) {
        self.note_changes(Table::Subscribers, rows);
        self.note_changes(Table::SubscriberSections, rows);
    }

    /// Analyzes the articles, now and to the end, after an import wrote `written` of them, if
    /// that is at least [`MIN_CHANGES`]; whether it did.
    ///
    /// Once per import rather than every 10,000 rows as they come: an import growing the
    /// table from nothing analyzed it 13 times for 50,000 files, and those ANALYZEs took 1.55 s
    /// of the 4.9 s PostgreSQL spent on the import's statements (issue 15). Waited for, so
    /// that `tidings import` does not exit before the statistics exist.
    pub async fn analyze_after_article_import(&self, written: u64) -> anyhow::Result<bool> {
        if written < MIN_CHANGES {
            return Ok(false);
        }
        let started = Instant::now();
        let rows = self.refresh(Table::Articles, Work::Analyze).await?;
        tracing::info!(table = "articles", rows, took = ?started.elapsed(), "table statistics refreshed");
        Ok(true)
    }

    /// Vacuums `table` in the background (after a big run finished, or retention deleted
    /// many of its rows), unless this process is already at work on it.
    pub(super) fn vacuum_soon(&self, table: Table) {
        let due = {
            let mut all = self.stats.0.lock().expect("statistics lock");
            let t = all.entry(table).or_default();
            let due = !t.busy;
            t.busy = true;
            due
        };
        if due {
            self.start(table, Work::Vacuum);
        }
    }

    /// Waits (at most `limit`) until no ANALYZE or VACUUM of this process is running; `true`
    /// when none is.
    pub async fn statistics_settled(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            let busy = {
                let all = self.stats.0.lock().expect("statistics lock");
                all.values().any(|t| t.busy)
            };
            if !busy {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn start(&self, table: Table, work: Work) {
        let store = self.clone();
        tokio::spawn(async move {
            let counted = {
                let all = store.stats.0.lock().expect("statistics lock");
                all.get(&table).map_or(0, |t| t.changed)
            };
            let started = Instant::now();
            let result = store.refresh(table, work).await;
            let mut all = store.stats.0.lock().expect("statistics lock");
            let t = all.entry(table).or_default();
            t.busy = false;
            match result {
                Ok(rows) => {
                    t.changed = t.changed.saturating_sub(counted);
                    t.rows = rows;
                    tracing::info!(table = table.name(), ?work, rows, took = ?started.elapsed(),
                        "table statistics refreshed");
                }
                Err(e) => tracing::warn!(table = table.name(), ?work, error = ?e,
                    "cannot refresh table statistics"),
            }
        });
    }

    /// Runs `work` on `table`; the rows it holds, as the new statistics say.
    async fn refresh(&self, table: Table, work: Work) -> anyhow::Result<u64> {
        let name = table.name();
        match &self.db {
            Db::Postgres(pool) => {
                // SKIP_LOCKED: another process at work on the same table is enough.
                let sql = match work {
                    Work::Analyze => format!("ANALYZE (SKIP_LOCKED) {name}"),
                    Work::Vacuum => format!("VACUUM (ANALYZE, SKIP_LOCKED) {name}"),
                };
                sqlx::query(&sql).execute(pool).await.context("analyze")?;
                let rows: f32 = sqlx::query_scalar(
                    "SELECT reltuples FROM pg_class WHERE oid = CAST($1 AS regclass)",
                )
                .bind(name)
                .fetch_one(pool)
                .await
                .context("read table size")?;
                Ok(rows.max(0.0) as u64)
            }
            Db::Sqlite { writer, .. } => {
                let mut c = writer.acquire().await.context("analyze")?;
                sqlx::query(&format!("PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}"))
                    .execute(&mut *c)
                    .await
                    .context("analysis limit")?;
                sqlx::query(&format!("ANALYZE {name}"))
                    .execute(&mut *c)
                    .await
                    .context("analyze")?;
                // sqlite_stat1's `stat` starts with the table's row count (estimated).
                let stat: Option<String> =
                    sqlx::query_scalar("SELECT stat FROM sqlite_stat1 WHERE tbl = $1 LIMIT 1")
                        .bind(name)
                        .fetch_optional(&mut *c)
                        .await
                        .context("read table size")?;
                Ok(stat
                    .and_then(|s| s.split(' ').next().and_then(|n| n.parse().ok()))
                    .unwrap_or(0))
            }
        }
    }
}
