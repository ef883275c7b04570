//! Changing the console's people from the console: a person's role, removing a person.
//! Neither may leave the console without an admin; a removed person's sessions end.

use anyhow::Context;

use super::{Store, audit::insert_audit};
use crate::domain::{Audit, Role};

/// What a change of a person came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonChange {
    Done,
    /// There is no such account.
    Missing,
    /// It would leave no admin: nothing changed.
    LastAdmin,
}

impl Store {
    /// Gives `email` the role `role`, unless that demotes the last admin.
    #[tracing::instrument(skip_all)]
    pub async fn set_account_role(
        &self,
        email: &str,
        role: Role,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<PersonChange> {
        self.change_person(email, Some(role), audit, now_ms).await
    }

    /// Removes `email`'s account (and with it their sessions), unless it is the last admin.
    #[tracing::instrument(skip_all)]
    pub async fn remove_account(
        &self,
        email: &str,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<PersonChange> {
        self.change_person(email, None, audit, now_ms).await
    }

    /// `role` `Some`: change the role; `None`: remove.
    async fn change_person(
        &self,
        email: &str,
        role: Option<Role>,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<PersonChange> {
        let lock = self.row_lock();
        write_tx!(self, |tx| {
            // Every admin row is locked (PostgreSQL; SQLite has one writer), so two admins
            // demoting each other at once cannot both pass the count.
            let admins: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT email FROM admin_accounts WHERE role = 'admin' ORDER BY id{lock}"
            ))
            .fetch_all(&mut *tx)
            .await
            .context("lock admins")?;
            let current: Option<(i64, String)> =
                sqlx::query_as("SELECT id, role FROM admin_accounts WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("find account")?;
            let Some((id, current)) = current else {
                return Ok(PersonChange::Missing);
            };
            let stays_admin = role == Some(Role::Admin);
            if current == Role::Admin.as_str() && !stays_admin && admins.iter().all(|a| a == email)
            {
                return Ok(PersonChange::LastAdmin);
            }
            // A removed person's sessions go with the account (ON DELETE CASCADE); a new role
            // applies to the next request, as every request reads the account afresh.
            match role {
                Some(role) => sqlx::query("UPDATE admin_accounts SET role = $2 WHERE id = $1")
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .context("change role")?,
                None => sqlx::query("DELETE FROM admin_accounts WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .context("remove account")?,
            };
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit person change")?;
            Ok(PersonChange::Done)
        })
    }
}
