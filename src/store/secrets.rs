//! Secrets every process of one database shares, made on first use.

use anyhow::Context;
use rand::RngCore;

use super::{Store, read_pool, write_tx};

impl Store {
    /// The 256-bit secret called `name`, created at random the first time it is asked for.
    /// Concurrent first calls from several processes agree on one value.
    pub async fn secret(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(hex::encode(fresh))
            .execute(&mut *tx)
            .await
            .context("create secret")?;
            tx.commit().await.context("commit secret")?;
        });
        let value: String = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT value FROM secrets WHERE name = $1"
        )
        .bind(name)
        .fetch_one(p)
        .await
        .context("read secret"))?;
        hex::decode(value).context("secret is not hex")
    }

    /// Stores the hashes of derived manage tokens; ones already stored are left alone.
    pub async fn ensure_manage_tokens(
        &self,
        tokens: &[(i64, i64, String)],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        // A few multi-row statements rather than one statement per token.
        write_tx!(self, |tx| {
            for chunk in tokens.chunks(super::ledger_outcomes::CHUNK) {
                let rows = (0..chunk.len())
                    .map(|i| {
                        let p = 2 + 3 * i;
                        format!("(${p}, ${}, 'manage', ${}, $1, NULL)", p + 1, p + 2)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO tokens (hash, subscriber_id, kind, generation, created_at, expires_at)
                     VALUES {rows} ON CONFLICT (hash) DO NOTHING"
                );
                let mut q = sqlx::query(&sql).bind(now_ms);
                for (id, generation, hash) in chunk {
                    q = q.bind(hash).bind(*id).bind(*generation);
                }
                q.execute(&mut *tx)
                    .await
                    .context("insert derived manage tokens")?;
            }
            tx.commit().await.context("commit derived manage tokens")?;
        });
        Ok(())
    }
}
