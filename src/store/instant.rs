//! Instant schedules (SPEC §6): when the next run fires, and making it, from facts every
//! process reads alike.
//!
//! The rule: let `L` be the cutoff of the schedule's last run (manual ones too: their mail
//! went out then), and `from` the later of `L` and the schedule's `checked_until` (articles
//! visible up to there were mailed, or followed by nobody). When an article became visible at
//! `t` after `from`, the schedule fires at `F = max(t, L + window)`: the first article goes out
//! at once, anything later inside the window waits for the window's end. The run, keyed
//! `(schedule, F)` as cron runs are, is made in a transaction that holds the schedule's row,
//! after checking the rule again: however many processes evaluate at once, one run per
//! window. Its deliveries are planned after that, a chunk at a time (see `planning`). It takes what became visible up to the moment it is made (its cutoff), so after an
//! outage one run sends everything new at once rather than replaying each window.

use anyhow::Context;

use super::{
    Audience, Backend, PLAN_CHUNK, PLAN_LEASE_MS, PlanLease, Store, planning::INSERT_PLANNING_RUN,
    planning_audience::bind_audience, read_pool, write_tx,
};

/// What evaluating an instant schedule did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstantTick {
    /// Nothing became visible since the last run.
    Idle,
    /// Something waits for the window to end, at this instant (ms).
    Waiting(i64),
    /// A run fired at `fire_at` (ms) and was planned.
    Planned { run_id: i64, fire_at: i64 },
    /// What became visible is in sections no subscriber of the schedule follows: passed over,
    /// without a run (so it does not hold back the next mail of those who follow others).
    Unfollowed,
}

/// The cutoff of a schedule's last run (`$1`).
const LAST_RUN: &str = "SELECT MAX(COALESCE(cutoff, created_at)) FROM runs
     WHERE schedule = $1 AND status <> 'missed'";

/// When the first article visible in `($1, $2]` became visible.
const FIRST_VISIBLE: &str = "SELECT MIN(visible_at) FROM articles
     WHERE retracted_at IS NULL AND visible_at > $1 AND visible_at <= $2 AND published_at <= $2";

/// The fire instant by the rule, from the last run's cutoff, where to look from, the first
/// article visible since, and the window (all ms).
fn fire_at(last: Option<i64>, first: i64, window_ms: i64) -> i64 {
    last.map_or(first, |l| first.max(l + window_ms))
}

impl Store {
    /// Evaluates instant schedule `slug` at `now_ms` and fires it when due (see the module).
    #[tracing::instrument(skip_all, fields(slug))]
    pub async fn tick_instant(
        &self,
        slug: &str,
        window_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<InstantTick> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let checked_sql = format!(
            "SELECT COALESCE(checked_until, created_at) FROM schedules
             WHERE slug = $1 AND deleted_at IS NULL{lock}"
        );
        let lease = PlanLease::fresh(PLAN_LEASE_MS);
        let (run_id, fire): (Option<i64>, i64) = write_tx!(self, |tx| {
            // Holding the schedule's row: whoever evaluates next sees this run.
            let checked: Option<i64> = sqlx::query_scalar(&checked_sql)
                .bind(slug)
                .fetch_optional(&mut *tx)
                .await
                .context("lock instant schedule")?;
            let Some(checked) = checked else {
                return Ok(InstantTick::Idle);
            };
            let last: Option<i64> = sqlx::query_scalar(LAST_RUN)
                .bind(slug)
                .fetch_one(&mut *tx)
                .await
                .context("last instant run")?;
            let from = last.map_or(checked, |l| l.max(checked));
            let first: Option<i64> = sqlx::query_scalar(FIRST_VISIBLE)
                .bind(from)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await
                .context("first article since the last instant run")?;
            let Some(first) = first else {
                return Ok(InstantTick::Idle);
            };
            let fire = fire_at(last, first, window_ms);
            if fire > now_ms {
                return Ok(InstantTick::Waiting(fire));
            }
            // Only when someone follows what became visible: otherwise it is passed over
            // without a run (see `InstantTick::Unfollowed`).
            let audience = Audience::Followers {
                schedule: slug.to_owned(),
                since: from,
                until: now_ms,
            };
            let anyone = format!(
                "SELECT s.id FROM subscribers s WHERE {} LIMIT 1",
                audience.filter(1)
            );
            let follower: Option<i64> = bind_audience!(sqlx::query_scalar(&anyone), &audience)
                .fetch_optional(&mut *tx)
                .await
                .context("look for a follower")?;
            let mut run_id = None;
            if follower.is_some() {
                run_id = sqlx::query_scalar(INSERT_PLANNING_RUN)
                    .bind(slug)
                    .bind(fire)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(false)
                    .bind(&lease.owner)
                    .bind(now_ms + lease.millis)
                    .bind(None::<String>)
                    .bind(from)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("insert instant run")?;
                if run_id.is_none() {
                    return Ok(InstantTick::Idle);
                }
            }
            sqlx::query(
                "UPDATE schedules SET checked_until = $2
                 WHERE slug = $1 AND (checked_until IS NULL OR checked_until < $2)",
            )
            .bind(slug)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("advance instant check")?;
            tx.commit().await.context("commit instant run")?;
            (run_id, fire)
        });
        let Some(run_id) = run_id else {
            return Ok(InstantTick::Unfollowed);
        };
        // The schedule's row is free again: the deliveries are planned a chunk at a time.
        self.plan_to_end(run_id, &lease, now_ms, PLAN_CHUNK).await?;
        Ok(InstantTick::Planned {
            run_id,
            fire_at: fire,
        })
    }

    /// When instant schedule `slug` fires next by the rule, as things stand at `now_ms`
    /// (possibly now or earlier, when its evaluation is due): `None` when nothing waits.
    pub async fn instant_pending(
        &self,
        slug: &str,
        window_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        read_pool!(self, |p| {
            let checked: Option<i64> = sqlx::query_scalar(
                "SELECT COALESCE(checked_until, created_at) FROM schedules WHERE slug = $1",
            )
            .bind(slug)
            .fetch_optional(p)
            .await
            .context("read instant schedule")?;
            let Some(checked) = checked else {
                return Ok(None);
            };
            let last: Option<i64> = sqlx::query_scalar(LAST_RUN)
                .bind(slug)
                .fetch_one(p)
                .await
                .context("last instant run")?;
            let from = last.map_or(checked, |l| l.max(checked));
            let first: Option<i64> = sqlx::query_scalar(FIRST_VISIBLE)
                .bind(from)
                .bind(now_ms)
                .fetch_one(p)
                .await
                .context("first article since the last instant run")?;
            Ok(first.map(|t| fire_at(last, t, window_ms)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fire_at;

    #[test]
    fn the_first_article_fires_at_once_and_later_ones_at_the_window_end() {
        assert_eq!(fire_at(None, 5_000, 600_000), 5_000);
        assert_eq!(fire_at(Some(0), 700_000, 600_000), 700_000);
        assert_eq!(fire_at(Some(0), 120_000, 600_000), 600_000);
    }
}
