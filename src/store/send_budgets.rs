//! Send budgets every process of one database shares: `mail.rate_per_second` and each
//! `[[mail.domain_limits]]` entry (their policy lives in `mail::throttle`). A budget is one row
//! read and changed in one short transaction, with "now" read in the same statement as the
//! row: on PostgreSQL the server's clock, so that processes on machines whose clocks disagree
//! still share one timeline; on SQLite (one process) this process's wall clock.

use anyhow::Context;

use super::{Backend, Store};

/// One budget's value, as [`Store::update_send_budget`] hands it over to be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendBudget {
    /// GCRA: the theoretical arrival time of the next free send slot (µs on the timeline).
    pub tat_us: i64,
    /// How many times in a row the domain deferred our mail (a success resets it).
    pub strikes: i32,
    /// After a deferral, no mail to the domain before this instant (µs on the timeline).
    pub cool_until_us: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    tat_us: i64,
    strikes: i32,
    cool_until_us: i64,
    now_us: Option<i64>,
}

/// Microseconds since the Unix epoch on this process's wall clock.
fn wall_clock_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl Store {
    /// Runs `f` on budget `name` (all zero when new) and the current instant (µs), in one write
    /// transaction, and stores what `f` leaves: changes from every process apply in turn.
    /// `now_us` is that instant when given (a test's manual clock); otherwise the PostgreSQL
    /// server's clock, or this process's wall clock on SQLite.
    #[tracing::instrument(skip_all, fields(budget = name))]
    pub async fn update_send_budget<R>(
        &self,
        name: &str,
        now_us: Option<i64>,
        f: impl FnOnce(&mut SendBudget, i64) -> R,
    ) -> anyhow::Result<R> {
        // The upsert creates the row when missing and locks it either way (PostgreSQL), so
        // the clock is read once the row is ours: a process that waited for the lock does not
        // reserve from an instant already past.
        let clock = match (self.backend(), now_us) {
            (Backend::Postgres, None) => {
                "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
            }
            _ => "CAST(NULL AS BIGINT)",
        };
        let sql = format!(
            "INSERT INTO send_budgets (name) VALUES ($1)
             ON CONFLICT (name) DO UPDATE SET tat_us = send_budgets.tat_us
             RETURNING tat_us, strikes, cool_until_us, {clock} AS now_us"
        );
        write_tx!(self, |tx| {
            let row: Row = sqlx::query_as(&sql)
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .with_context(|| format!("read send budget {name}"))?;
            let now = row.now_us.or(now_us).unwrap_or_else(wall_clock_us);
            let before = SendBudget {
                tat_us: row.tat_us,
                strikes: row.strikes,
                cool_until_us: row.cool_until_us,
            };
            let mut budget = before;
            let result = f(&mut budget, now);
            if budget != before {
                sqlx::query(
                    "UPDATE send_budgets SET tat_us = $2, strikes = $3, cool_until_us = $4
                     WHERE name = $1",
                )
                .bind(name)
                .bind(budget.tat_us)
                .bind(budget.strikes)
                .bind(budget.cool_until_us)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("update send budget {name}"))?;
            }
            tx.commit()
                .await
                .with_context(|| format!("commit send budget {name}"))?;
            Ok(result)
        })
    }

    /// Moves budget `name`'s arrival time back from `from_us` to `to_us`, only if nobody has
    /// reserved after `from_us` meanwhile: unused slots a process gives back when it stops.
    /// Returns whether they were taken back.
    pub async fn give_back_send_slots(
        &self,
        name: &str,
        from_us: i64,
        to_us: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let done =
                sqlx::query("UPDATE send_budgets SET tat_us = $3 WHERE name = $1 AND tat_us = $2")
                    .bind(name)
                    .bind(from_us)
                    .bind(to_us)
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("give back slots of send budget {name}"))?
                    .rows_affected();
            tx.commit()
                .await
                .with_context(|| format!("commit send budget {name}"))?;
            Ok(done == 1)
        })
    }
}
