//! The two SQLite pools of a store: one writer connection (transactions start with
//! `BEGIN IMMEDIATE`) and a few readers.
//!
//! A connection is never handed out while it is still inside a transaction. sqlx runs a
//! SQLite `BEGIN` on the connection's worker thread and counts it there; should the future
//! that asked for it be dropped after the worker answered and before it read the answer (a
//! `timeout` around a store call that fires just then, as every one does when a process wakes
//! from SIGSTOP), no `Transaction` exists to roll it back. The connection goes back to the
//! pool inside that transaction: every later `BEGIN` on it fails ("attempted to call
//! begin_with at non-zero transaction depth") and, on the single writer, it holds the write
//! lock, so nothing could be written again until a restart. Such a connection is closed
//! instead (closing rolls the transaction back) and a new one opened.

use std::time::Duration;

use anyhow::Context;
use sqlx::{
    Connection,
    sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions},
};

/// The writer pool (one connection) and the reader pool (`readers` connections).
pub(super) async fn open(
    opts: SqliteConnectOptions,
    readers: u32,
) -> anyhow::Result<(SqlitePool, SqlitePool)> {
    let writer = options(1)
        .connect_with(opts.clone())
        .await
        .context("open SQLite database")?;
    let reader = options(readers)
        .connect_with(opts)
        .await
        .context("open SQLite database for reading")?;
    Ok((writer, reader))
}

fn options(max_connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        // Runs after the pool's ping, which the worker answers after any rollback queued
        // before it: a transaction still open here is one nobody will end.
        .before_acquire(|conn, _| {
            Box::pin(async move {
                let stuck = conn.is_in_transaction();
                if stuck {
                    tracing::warn!(
                        "a SQLite connection was left inside a transaction whose caller gave up; \
                         closing it (its transaction is rolled back)"
                    );
                }
                Ok(!stuck)
            })
        })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_replaced_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let opts = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let (writer, _reader) = open(opts, 1).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&writer)
            .await
            .unwrap();
        {
            let mut conn = writer.acquire().await.unwrap();
            // What a BEGIN whose caller was dropped at the wrong moment leaves behind: the
            // transaction started, and no `Transaction` to end it.
            std::mem::forget(conn.begin_with("BEGIN IMMEDIATE").await.unwrap());
            sqlx::query("INSERT INTO t VALUES (1)")
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        // The next writer gets a working connection: it can begin, and the abandoned insert
        // was rolled back with its transaction.
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let xs: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(&writer)
            .await
            .unwrap();
        assert_eq!(xs, [2]);
    }
}
