//! Values every process of one database shares and changes one at a time, such as the
//! theoretical arrival time of the hourly confirmation-mail budget (`subscriptions::limits`).

use anyhow::Context;

use super::{Backend, Store, write_tx};

impl Store {
    /// Runs `f` on the shared value `name` (`initial` when there is none yet) in one write
    /// transaction and stores what `f` leaves, so changes from every process apply in turn.
    pub async fn update_budget<R>(
        &self,
        name: &str,
        initial: i64,
        f: impl FnOnce(&mut i64) -> R,
    ) -> anyhow::Result<R> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO rate_budgets (name, tat) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(initial)
                .execute(&mut *tx)
                .await
                .context("create budget")?;
            let before: i64 = sqlx::query_scalar(&format!(
                "SELECT tat FROM rate_budgets WHERE name = $1{lock}"
            ))
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .context("read budget")?;
            let mut tat = before;
            let result = f(&mut tat);
            if tat != before {
                sqlx::query("UPDATE rate_budgets SET tat = $2 WHERE name = $1")
                    .bind(name)
                    .bind(tat)
                    .execute(&mut *tx)
                    .await
                    .context("update budget")?;
            }
            tx.commit().await.context("commit budget")?;
            Ok(result)
        })
    }
}
