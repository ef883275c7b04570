//! Rate budgets every process of one database shares, such as the hourly confirmation mails:
//! GCRA with the theoretical arrival time in one row, moved on by a single atomic statement.

use anyhow::Context;

use super::{Backend, Store, read_pool, write_tx};

impl Store {
    /// Takes one unit of budget `name` at `now` (`burst` at once, then one per `interval_ms`),
    /// or says how many ms until one is free.
    pub async fn take_budget(
        &self,
        name: &str,
        now: i64,
        interval_ms: i64,
        burst: i64,
    ) -> anyhow::Result<Result<(), i64>> {
        let greatest = match self.backend() {
            Backend::Postgres => "GREATEST",
            Backend::Sqlite => "MAX",
        };
        let sql = format!(
            "INSERT INTO rate_budgets (name, tat) VALUES ($1, $2 + $3)
             ON CONFLICT (name) DO UPDATE SET tat = {greatest}(rate_budgets.tat, $2) + $3
             WHERE {greatest}(rate_budgets.tat, $2) - ($4 - 1) * $3 <= $2
             RETURNING tat"
        );
        let taken: Option<i64> = write_tx!(self, |tx| {
            let taken = sqlx::query_scalar(&sql)
                .bind(name)
                .bind(now)
                .bind(interval_ms)
                .bind(burst)
                .fetch_optional(&mut *tx)
                .await
                .context("take from budget")?;
            tx.commit().await.context("commit budget")?;
            taken
        });
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let tat: i64 = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT tat FROM rate_budgets WHERE name = $1"
        )
        .bind(name)
        .fetch_one(p)
        .await
        .context("read budget"))?;
        Ok(Err((tat.max(now) - (burst - 1) * interval_ms - now).max(1)))
    }

    /// Gives back one unit of budget `name` taken for something that did not happen after all.
    pub async fn give_back_budget(
        &self,
        name: &str,
        now: i64,
        interval_ms: i64,
    ) -> anyhow::Result<()> {
        let greatest = match self.backend() {
            Backend::Postgres => "GREATEST",
            Backend::Sqlite => "MAX",
        };
        let sql = format!("UPDATE rate_budgets SET tat = {greatest}(tat - $3, $2) WHERE name = $1");
        write_tx!(self, |tx| {
            sqlx::query(&sql)
                .bind(name)
                .bind(now)
                .bind(interval_ms)
                .execute(&mut *tx)
                .await
                .context("give back to budget")?;
            tx.commit().await.context("commit budget")?;
        });
        Ok(())
    }
}
