//! Instant schedules (SPEC §6): when the next run fires, and making it, from facts every
//! process reads alike.
//!
//! The rule: let `L` be the cutoff of the schedule's last run (manual ones too: their mail
//! went out then), and `from` the later of `L` and the schedule's `checked_until` (articles
//! visible up to there were mailed, or followed by nobody). When an article became visible at
//! `t` after `from`, the schedule fires at `F = max(t, L + window)`: the first article goes out
//! at once, anything later inside the window waits for the window's end. The run, keyed
//! `(schedule, F)` as cron runs are, is planned in a transaction that holds the schedule's row,
//! after checking the rule again: however many processes evaluate at once, one run per
//! window. It takes what became visible up to the moment it is made (its cutoff), so after an
//! outage one run sends everything new at once rather than replaying each window.

use anyhow::Context;

use super::{Backend, Store, read_pool, write_tx};

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

/// Plans run `$1` (made at `$2`) for each active subscriber of schedule `$3` who follows every
/// section (`$4` = true) or a section with an article visible in `($5, $2]`.
const PLAN_FOLLOWERS: &str =
    "INSERT INTO deliveries (run_id, subscriber_id, status, attempts, next_attempt_at)
     SELECT $1, s.id, 'pending', 0, $2 FROM subscribers s
     WHERE s.status = 'active' AND s.schedule = $3
       AND (s.all_sections = $4 OR EXISTS (
             SELECT 1 FROM subscriber_sections ss
             WHERE ss.subscriber_id = s.id AND ss.section IN (
               SELECT a.section FROM articles a
               WHERE a.retracted_at IS NULL AND a.visible_at > $5 AND a.visible_at <= $2
                 AND a.published_at <= $2)))
     ON CONFLICT (run_id, subscriber_id) DO NOTHING";

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
        write_tx!(self, |tx| {
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
            let run_id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO runs (schedule, fire_at, status, created_at, planned_at, cutoff, manual)
                 VALUES ($1, $2, 'running', $3, $3, $3, $4)
                 ON CONFLICT (schedule, fire_at) DO NOTHING RETURNING id",
            )
            .bind(slug)
            .bind(fire)
            .bind(now_ms)
            .bind(false)
            .fetch_optional(&mut *tx)
            .await
            .context("insert instant run")?;
            let Some(run_id) = run_id else {
                return Ok(InstantTick::Idle);
            };
            let planned = sqlx::query(PLAN_FOLLOWERS)
                .bind(run_id)
                .bind(now_ms)
                .bind(slug)
                .bind(true)
                .bind(from)
                .execute(&mut *tx)
                .await
                .context("plan instant deliveries")?
                .rows_affected();
            if planned == 0 {
                sqlx::query("DELETE FROM runs WHERE id = $1")
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await
                    .context("drop an instant run nobody follows")?;
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
            Ok(if planned == 0 {
                InstantTick::Unfollowed
            } else {
                InstantTick::Planned {
                    run_id,
                    fire_at: fire,
                }
            })
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
