//! Subscribers as the console shows them: search by address prefix with filters and keyset
//! paging, counts per status without a scan, one person's history and deliveries, and the
//! changes the console makes (an add with recorded consent, a note in the history).

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{
    Backend, Store,
    audit::insert_audit,
    subscribers::{SUBSCRIBER_COLUMNS, SubscriberRow, write_prefs},
};
use crate::domain::{Audit, Preferences, Subscriber, SubscriberStatus};

/// Delta rows past which a reader folds them back into one row per status.
const FOLD_AFTER: i64 = 1000;

/// What the list shows: an address prefix (any case) and filters, each optional.
#[derive(Debug, Clone, Default)]
pub struct SubscriberQuery {
    pub prefix: Option<String>,
    pub status: Option<SubscriberStatus>,
    pub section: Option<String>,
    pub schedule: Option<String>,
}

/// Where the next page of the console's list starts: newest first without a search, in
/// address order with one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleCursor {
    Before(i64),
    After(String, i64),
}

impl ConsoleCursor {
    /// Opaque text for a link.
    pub fn encode(&self) -> String {
        let raw = match self {
            Self::Before(id) => format!("b:{id}"),
            Self::After(email, id) => format!("a:{id}:{email}"),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads what [`encode`](Self::encode) made.
    pub fn decode(s: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        if let Some(id) = raw.strip_prefix("b:") {
            return id.parse().ok().map(Self::Before);
        }
        let (id, email) = raw.strip_prefix("a:")?.split_once(':')?;
        Some(Self::After(email.to_owned(), id.parse().ok()?))
    }
}

/// One delivery of a digest to a person.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonDelivery {
    pub run_id: i64,
    pub schedule: String,
    pub status: String,
    pub last_error: Option<String>,
    pub at: i64,
}

/// One entry of a person's console history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryNote {
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub note: Option<String>,
}

/// `INSERT`s one history row; a macro so one text serves both transaction types.
macro_rules! insert_history {
    ($tx:ident, $id:expr, $at:expr, $event:expr, $actor:expr, $note:expr) => {
        sqlx::query(
            "INSERT INTO subscriber_history (subscriber_id, at, event, actor, note)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($id)
        .bind($at)
        .bind($event)
        .bind($actor)
        .bind($note)
        .execute(&mut *$tx)
        .await
        .context("note history")?
    };
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Store {
    /// The expression the address index is built on (byte order on both backends).
    fn lower_email(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => "lower(email) COLLATE \"C\"",
            Backend::Sqlite => "lower(email)",
        }
    }

    /// A page of subscribers matching `q`, and where the next page starts.
    #[tracing::instrument(skip_all)]
    pub async fn search_subscribers(
        &self,
        q: &SubscriberQuery,
        limit: u32,
        after: Option<&ConsoleCursor>,
    ) -> anyhow::Result<(Vec<Subscriber>, Option<ConsoleCursor>)> {
        let key = self.lower_email();
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        let arg = |b: Bind, binds: &mut Vec<Bind>| {
            binds.push(b);
            format!("${}", binds.len())
        };
        let prefix = q.prefix.as_deref().map(str::to_lowercase);
        if let Some(p) = &prefix {
            // A range, not LIKE: an index answers it and `%` or `_` in the prefix mean themselves.
            let lo = arg(Bind::Text(p.clone()), &mut binds);
            let hi = arg(Bind::Text(format!("{p}\u{10FFFF}")), &mut binds);
            conds.push(format!("{key} >= {lo} AND {key} < {hi}"));
        }
        if let Some(s) = q.status {
            let a = arg(Bind::Text(s.as_str().into()), &mut binds);
            conds.push(format!("status = {a}"));
        }
        if let Some(s) = &q.schedule {
            let a = arg(Bind::Text(s.clone()), &mut binds);
            conds.push(format!("schedule = {a}"));
        }
        if let Some(s) = &q.section {
            // OFFSET 0 keeps PostgreSQL probing the key per row instead of hashing the table.
            let a = arg(Bind::Text(s.clone()), &mut binds);
            let probe = match self.backend() {
                Backend::Postgres => " OFFSET 0",
                Backend::Sqlite => "",
            };
            conds.push(format!(
                "(all_sections OR EXISTS (SELECT 1 FROM subscriber_sections x
                  WHERE x.subscriber_id = subscribers.id AND x.section = {a}{probe}))"
            ));
        }
        let order = match (&prefix, after) {
            (Some(_), Some(ConsoleCursor::After(email, id))) => {
                let e = arg(Bind::Text(email.clone()), &mut binds);
                let i = arg(Bind::Int(*id), &mut binds);
                conds.push(format!("({key} > {e} OR ({key} = {e} AND id > {i}))"));
                format!("{key}, id")
            }
            (Some(_), _) => format!("{key}, id"),
            (None, Some(ConsoleCursor::Before(id))) => {
                let i = arg(Bind::Int(*id), &mut binds);
                conds.push(format!("id < {i}"));
                "id DESC".into()
            }
            (None, _) => "id DESC".into(),
        };
        let fetch = arg(Bind::Int(i64::from(limit) + 1), &mut binds);
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers {filter} ORDER BY {order} LIMIT {fetch}"
        );
        let mut rows: Vec<SubscriberRow> = read_pool!(self, |p| {
            let mut query = sqlx::query_as(&sql);
            for b in &binds {
                query = match b {
                    Bind::Text(t) => query.bind(t.as_str()),
                    Bind::Int(i) => query.bind(*i),
                };
            }
            query.fetch_all(p).await.context("search subscribers")
        })?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| match prefix {
                Some(_) => ConsoleCursor::After(r.email.to_lowercase(), r.id),
                None => ConsoleCursor::Before(r.id),
            })
        } else {
            None
        };
        Ok((self.with_sections(rows).await?, next))
    }

    /// How many subscribers have each status (every status listed), from the deltas the
    /// triggers of migration 0120 keep; folds them when they have piled up.
    #[tracing::instrument(skip_all)]
    pub async fn subscriber_counts(&self) -> anyhow::Result<Vec<(SubscriberStatus, i64)>> {
        let rows: Vec<(String, i64, i64)> = read_pool!(self, |p| sqlx::query_as(
            "SELECT status, CAST(SUM(n) AS BIGINT), COUNT(*) FROM subscriber_status_deltas
             GROUP BY status"
        )
        .fetch_all(p)
        .await
        .context("count subscribers by status"))?;
        if rows.iter().map(|r| r.2).sum::<i64>() > FOLD_AFTER {
            self.fold_status_deltas().await?;
        }
        SubscriberStatus::NAMES
            .iter()
            .map(|name| {
                let n = rows.iter().find(|r| r.0 == *name).map_or(0, |r| r.1);
                Ok((SubscriberStatus::parse(name)?, n))
            })
            .collect()
    }

    async fn fold_status_deltas(&self) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            match self.backend() {
                // One statement, one snapshot: rows committed meanwhile are neither summed
                // nor deleted, and a second folder deletes only what the first left.
                Backend::Postgres => {
                    sqlx::query(
                        "WITH d AS (DELETE FROM subscriber_status_deltas RETURNING status, n)
                         INSERT INTO subscriber_status_deltas (status, n)
                         SELECT status, SUM(n) FROM d GROUP BY status",
                    )
                    .execute(&mut *tx)
                    .await
                    .context("fold status counts")?;
                }
                // The one writer holds the database for the whole transaction.
                Backend::Sqlite => {
                    let top: Option<i64> =
                        sqlx::query_scalar("SELECT MAX(id) FROM subscriber_status_deltas")
                            .fetch_one(&mut *tx)
                            .await
                            .context("read status deltas")?;
                    let top = top.unwrap_or(0);
                    for sql in [
                        "INSERT INTO subscriber_status_deltas (status, n)
                         SELECT status, SUM(n) FROM subscriber_status_deltas WHERE id <= $1
                         GROUP BY status",
                        "DELETE FROM subscriber_status_deltas WHERE id <= $1",
                    ] {
                        sqlx::query(sql)
                            .bind(top)
                            .execute(&mut *tx)
                            .await
                            .context("fold status counts")?;
                    }
                }
            }
            tx.commit().await.context("commit folded counts")?;
        });
        Ok(())
    }

    /// One subscriber by id, and when the last confirmation mail went to them.
    pub async fn subscriber_by_id(
        &self,
        id: i64,
    ) -> anyhow::Result<Option<(Subscriber, Option<i64>)>> {
        let sql = format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = $1");
        let row: Option<SubscriberRow> = read_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .context("get subscriber"))?;
        let Some(s) = self.with_sections(row.into_iter().collect()).await?.pop() else {
            return Ok(None);
        };
        let last: Option<i64> = read_pool!(self, |p| sqlx::query_scalar(
            "SELECT last_confirmation_at FROM subscribers WHERE id = $1"
        )
        .bind(id)
        .fetch_one(p)
        .await
        .context("get last confirmation"))?;
        Ok(Some((s, last)))
    }

    /// A person's latest deliveries, newest first.
    pub async fn person_deliveries(
        &self,
        subscriber_id: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<PersonDelivery>> {
        read_pool!(self, |p| sqlx::query_as(
            "SELECT d.run_id, r.schedule, d.status, d.last_error,
                    COALESCE(d.last_attempt_at, d.sent_at, r.created_at) AS at
             FROM deliveries d JOIN runs r ON r.id = d.run_id
             WHERE d.subscriber_id = $1 ORDER BY d.id DESC LIMIT $2"
        )
        .bind(subscriber_id)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await
        .context("person deliveries"))
    }

    /// What the console noted about a person, oldest first.
    pub async fn person_history(&self, subscriber_id: i64) -> anyhow::Result<Vec<HistoryNote>> {
        read_pool!(self, |p| sqlx::query_as(
            "SELECT at, event, actor, note FROM subscriber_history
             WHERE subscriber_id = $1 ORDER BY at, id LIMIT 200"
        )
        .bind(subscriber_id)
        .fetch_all(p)
        .await
        .context("person history"))
    }

    /// Adds an active subscriber whose consent an admin vouches for, with the reason in their
    /// history and the audit log; `None` (and no change) if the address is already known.
    #[tracing::instrument(skip_all)]
    pub async fn add_consented_subscriber(
        &self,
        email: &str,
        prefs: &Preferences,
        reason: &str,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        write_tx!(self, |tx| {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO subscribers (email, status, all_sections, schedule, locale,
                    generation, created_at, confirmed_at, source)
                 VALUES ($1, 'active', TRUE, $2, $3, 1, $4, $4, 'console')
                 ON CONFLICT (email) DO NOTHING RETURNING id",
            )
            .bind(email)
            .bind(&prefs.schedule)
            .bind(&prefs.locale)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .context("insert subscriber")?;
            let Some(id) = id else {
                tx.rollback().await.context("roll back add")?;
                return Ok(None);
            };
            write_prefs!(tx, id, prefs);
            insert_history!(tx, id, now_ms, "consented", &audit.actor, Some(reason));
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit add")?;
            Ok(Some(id))
        })
    }

    /// Notes a console action in a person's history and the audit log, in one transaction.
    pub async fn note_subscriber_event(
        &self,
        subscriber_id: i64,
        event: &str,
        audit: &Audit,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        write_tx!(self, |tx| {
            insert_history!(tx, subscriber_id, now_ms, event, &audit.actor, None::<&str>);
            insert_audit!(tx, audit, now_ms)?;
            tx.commit().await.context("commit history note")?;
        });
        Ok(())
    }
}
