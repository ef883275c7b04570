//! Announcements (SPEC §6): one article mailed now to every active subscriber of its section,
//! whatever their schedule, as a run of the delivery ledger.

use anyhow::Context;

use super::{
    PLAN_CHUNK, PLAN_LEASE_MS, PlanLease, Store, planning::INSERT_PLANNING_RUN, read_pool, write_tx,
};
use crate::domain::announcement_run_name;

/// What asking to announce an article did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// This request made the run.
    Started(i64),
    /// The article was announced already (or by another request at the same moment): its
    /// latest announcement's run.
    Already(i64),
}

/// One announcement of an article.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Announcement {
    pub seq: i64,
    pub run_id: Option<i64>,
    pub created_at: i64,
}

impl Store {
    /// Announces article `article_id` of `section` at `now_ms`: creates its run, then plans a
    /// delivery for every active subscriber who follows that section (or every section), a
    /// chunk at a time (see `planning`); returns once it is planned. Without `force`, an article announced before is not announced again.
    /// Two requests at once make one run: the announcement's key is (article, number).
    #[tracing::instrument(skip_all, fields(article_id, force))]
    pub async fn announce_article(
        &self,
        article_id: &str,
        section: &str,
        force: bool,
        now_ms: i64,
    ) -> anyhow::Result<Announced> {
        let latest = self.latest_announcement(article_id).await?;
        if let Some(a) = &latest
            && !force
        {
            return Ok(Announced::Already(a.run_id.unwrap_or_default()));
        }
        let seq = latest.map_or(1, |a| a.seq + 1);
        let lease = PlanLease::fresh(PLAN_LEASE_MS);
        let made: Option<i64> = write_tx!(self, |tx| {
            let won: Option<i64> = sqlx::query_scalar(
                "INSERT INTO announcements (article_id, seq, forced, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (article_id, seq) DO NOTHING RETURNING seq",
            )
            .bind(article_id)
            .bind(seq)
            .bind(force)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .context("record announcement")?;
            if won.is_none() {
                // Another request took this number first (its transaction has committed).
                None
            } else {
                let run_id: i64 = sqlx::query_scalar(INSERT_PLANNING_RUN)
                    .bind(announcement_run_name(article_id))
                    .bind(None::<i64>)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(true)
                    .bind(&lease.owner)
                    .bind(now_ms + lease.millis)
                    .bind(section)
                    .bind(None::<i64>)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("insert announcement run")?
                    .context("an announcement run without a fire instant cannot conflict")?;
                sqlx::query(
                    "UPDATE announcements SET run_id = $3 WHERE article_id = $1 AND seq = $2",
                )
                .bind(article_id)
                .bind(seq)
                .bind(run_id)
                .execute(&mut *tx)
                .await
                .context("link announcement to its run")?;
                tx.commit().await.context("commit announcement")?;
                Some(run_id)
            }
        });
        match made {
            Some(id) => {
                // Every subscriber may follow the section: planned a chunk at a time.
                self.plan_to_end(id, &lease, now_ms, PLAN_CHUNK).await?;
                Ok(Announced::Started(id))
            }
            None => {
                let winner = self.latest_announcement(article_id).await?;
                Ok(Announced::Already(
                    winner.and_then(|a| a.run_id).unwrap_or_default(),
                ))
            }
        }
    }

    /// The latest announcement of an article, if it was announced.
    pub async fn latest_announcement(
        &self,
        article_id: &str,
    ) -> anyhow::Result<Option<Announcement>> {
        read_pool!(self, |p| sqlx::query_as::<_, Announcement>(
            "SELECT seq, run_id, created_at FROM announcements
             WHERE article_id = $1 ORDER BY seq DESC LIMIT 1"
        )
        .bind(article_id)
        .fetch_optional(p)
        .await
        .context("latest announcement"))
    }

    /// How many active subscribers an announcement in `section` would mail now.
    pub async fn count_announcement_readers(&self, section: &str) -> anyhow::Result<i64> {
        read_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscribers s
             WHERE s.status = 'active' AND (s.all_sections = $1 OR EXISTS (
               SELECT 1 FROM subscriber_sections ss
               WHERE ss.subscriber_id = s.id AND ss.section = $2))"
        )
        .bind(true)
        .bind(section)
        .fetch_one(p)
        .await
        .context("count announcement readers"))
    }
}
