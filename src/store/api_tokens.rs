//! Named API tokens made in the console: stored as hashes, revocable, with last use.

use anyhow::Context;

use super::{Store, audit::insert_audit, read_pool, write_tx};
use crate::{
    clock::from_ms,
    domain::{ApiToken, Audit, Role},
};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    #[sqlx(try_from = "String")]
    role: Role,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<Row> for ApiToken {
    fn from(r: Row) -> Self {
        ApiToken {
            id: r.id,
            name: r.name,
            role: r.role,
            created_by: r.created_by,
            created_at: from_ms(r.created_at),
            last_used_at: r.last_used_at.map(from_ms),
            revoked_at: r.revoked_at.map(from_ms),
        }
    }
}

/// What a bearer token that is not one of the config's turned out to be.
pub struct StoredToken {
    pub id: i64,
    pub role: Role,
    pub last_used_ms: Option<i64>,
}

const COLUMNS: &str = "id, name, role, created_by, created_at, last_used_at, revoked_at";

impl Store {
    /// Stores a new token by its hash; returns its id.
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<i64> {
        write_tx!(self, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO api_tokens (name, role, hash, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(role.as_str())
            .bind(hash)
            .bind(&audit.actor)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .context("insert API token")?;
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit API token")?;
            Ok(id)
        })
    }

    /// Every token, revoked ones last, newest first.
    pub async fn list_api_tokens(&self) -> anyhow::Result<Vec<ApiToken>> {
        let sql =
            format!("SELECT {COLUMNS} FROM api_tokens ORDER BY revoked_at IS NOT NULL, id DESC");
        let rows: Vec<Row> = read_pool!(self, |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .context("list API tokens"))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One token by id.
    pub async fn get_api_token(&self, id: i64) -> anyhow::Result<Option<ApiToken>> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        let row: Option<Row> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .context("get API token"))?;
        Ok(row.map(Into::into))
    }

    /// Revokes a token, recording `audit`; `false` if it was unknown or already revoked.
    pub async fn revoke_api_token(
        &self,
        id: i64,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("revoke API token")?
            .rows_affected();
            if n > 0 {
                insert_audit!(tx, audit, now_ms)?;
            }
            tx.commit().await.context("commit revocation")?;
            Ok(n > 0)
        })
    }

    /// The live (not revoked) token with this hash.
    pub async fn api_token_by_hash(&self, hash: &str) -> anyhow::Result<Option<StoredToken>> {
        let row: Option<(i64, String, Option<i64>)> = read_pool!(self, |p| {
            sqlx::query_as(
            "SELECT id, role, last_used_at FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL"
        )
        .bind(hash)
        .fetch_optional(p)
        .await
        .context("find API token")
        })?;
        row.map(|(id, role, last_used_ms)| -> anyhow::Result<StoredToken> {
            Ok(StoredToken {
                id,
                role: Role::parse(&role)?,
                last_used_ms,
            })
        })
        .transpose()
    }

    /// Records that a token was used now.
    pub async fn touch_api_token(&self, id: i64, now_ms: i64) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("record API token use")?;
            tx.commit().await.context("commit API token use")?;
        });
        Ok(())
    }
}
