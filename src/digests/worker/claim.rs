//! Where a process's next claim starts, so that a claim reads about as many index entries as
//! it takes deliveries (see `store::claims`): after the last delivery the process claimed,
//! and from the beginning of the queue when that could miss something.
//!
//! A claim from the beginning is made when the process has no position yet, when the last
//! claim came back short (the queue is running out: look everywhere), when a delivery of this
//! process went back to the queue at its old place, and at least every [`FULL_EVERY`], which
//! bounds how long a delivery another process gave back, or left leased when it stopped,
//! waits before this process sees it. Deliveries that fall due later (retries, new runs)
//! sort after the position, so no claim from a position misses them.

use std::{
    sync::{Mutex, atomic::Ordering::Relaxed},
    time::Duration,
};

use chrono::{DateTime, Utc};

use super::Worker;
use crate::{
    clock::to_ms,
    store::{ClaimKey, Claimed},
};

/// Longest time between two claims from the beginning of the queue.
pub const FULL_EVERY: chrono::Duration = chrono::Duration::seconds(10);

#[derive(Default)]
struct State {
    after: Option<ClaimKey>,
    full_at: Option<DateTime<Utc>>,
}

/// The claim position of one process, shared by its loops.
#[derive(Default)]
pub struct ClaimFloor(Mutex<State>);

impl ClaimFloor {
    /// Where the next claim starts: after this position, or from the beginning (`None`).
    pub fn start(&self, now: DateTime<Utc>) -> Option<ClaimKey> {
        let s = self.0.lock().expect("claim floor lock");
        match (s.after, s.full_at) {
            (Some(after), Some(full)) if now - full < FULL_EVERY => Some(after),
            _ => None,
        }
    }

    /// Takes note of a claim made from `from` that asked for `limit` deliveries.
    pub fn claimed(
        &self,
        from: Option<ClaimKey>,
        claimed: &Claimed,
        limit: i64,
        now: DateTime<Utc>,
    ) {
        let mut s = self.0.lock().expect("claim floor lock");
        if from.is_none() {
            s.full_at = Some(now);
        }
        if (claimed.claims.len() as i64) < limit {
            s.after = None;
        } else {
            // Two loops claim side by side: the position is the furthest either reached.
            s.after = s.after.max(claimed.last_key());
        }
    }

    /// A delivery went back to the queue without a later due time, perhaps before the
    /// position: the next claim starts from the beginning.
    pub fn returned(&self) {
        self.0.lock().expect("claim floor lock").after = None;
    }
}

/// How long a claimed batch should take to send, once a loop has measured its pace. Without
/// it a loop behind a slow relay (50 ms a message, 4 connections: 80 a second) holds 500
/// deliveries, six seconds of work, and at the end of a run the other processes wait idle
/// while the last holders finish theirs; with it every process keeps working until the queue
/// is empty (`benches/throughput.sh`, 10,000 subscribers: three processes 2.47x one before,
/// 2.93x with it).
const BATCH_SECONDS: f64 = 2.0;

/// Fewest deliveries a loop claims at a time, however slow its last batch was.
const MIN_BATCH: i64 = 10;

/// The next claim's size after a batch of `n` deliveries took `elapsed`: what the loop sends
/// in [`BATCH_SECONDS`] at that pace, between [`MIN_BATCH`] and `max`.
pub(super) fn paced_batch(n: usize, elapsed: Duration, max: i64) -> i64 {
    let secs = elapsed.as_secs_f64().max(0.001);
    let size = (n as f64 / secs * BATCH_SECONDS).round() as i64;
    size.clamp(MIN_BATCH.min(max), max)
}

impl Worker {
    /// Claims the next batch for this loop, from the process's position when it has one.
    pub(super) async fn claim(&self, now: DateTime<Utc>) -> anyhow::Result<Claimed> {
        let shared = &self.shared;
        let store = &shared.state.store;
        let (at, until) = (to_ms(now), to_ms(now + self.lease));
        let limit = self.next_batch.load(Relaxed);
        let claim = |from| {
            store.claim_deliveries_after(&self.owner, at, until, limit, &shared.policy, from)
        };
        let from = shared.floor.start(now);
        let claimed = claim(from).await?;
        shared.floor.claimed(from, &claimed, limit, now);
        if from.is_none() || !claimed.claims.is_empty() {
            return Ok(claimed);
        }
        // Nothing after the position: look from the beginning now rather than idle first.
        let claimed = claim(None).await?;
        shared.floor.claimed(None, &claimed, limit, now);
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lasts_about_two_seconds_at_the_pace_just_measured() {
        // 500 in 6.25 s behind a 50 ms relay with 4 connections: 80 a second.
        assert_eq!(paced_batch(500, Duration::from_millis(6250), 500), 160);
        // Fast: the most a claim takes.
        assert_eq!(paced_batch(500, Duration::from_millis(200), 500), 500);
        // One delivery that took long: the least.
        assert_eq!(paced_batch(1, Duration::from_secs(5), 500), MIN_BATCH);
        // A cap below the least (a low mail.rate_per_second) wins.
        assert_eq!(paced_batch(1, Duration::from_secs(5), 3), 3);
        assert_eq!(paced_batch(0, Duration::ZERO, 500), MIN_BATCH);
    }
    use crate::store::Claim;

    fn claimed(ids: &[i64]) -> Claimed {
        Claimed {
            claims: ids
                .iter()
                .map(|&id| Claim {
                    id,
                    run_id: 1,
                    subscriber_id: id,
                    attempts: 0,
                    next_attempt_at: 100,
                })
                .collect(),
            orphans: Vec::new(),
        }
    }

    #[test]
    fn a_full_batch_moves_the_position_and_a_short_one_or_a_return_resets_it() {
        let floor = ClaimFloor::default();
        let t0: DateTime<Utc> = "2026-03-01T00:00:00Z".parse().unwrap();
        assert_eq!(floor.start(t0), None, "no position before the first claim");
        floor.claimed(None, &claimed(&[1, 2, 3]), 3, t0);
        let key = ClaimKey { due: 100, id: 3 };
        assert_eq!(floor.start(t0), Some(key));
        // A loop that was behind does not move it back.
        floor.claimed(Some(key), &claimed(&[1, 2]), 2, t0);
        assert_eq!(floor.start(t0), Some(key));
        // Every FULL_EVERY a claim starts from the beginning again.
        assert_eq!(floor.start(t0 + FULL_EVERY), None);
        floor.returned();
        assert_eq!(floor.start(t0), None, "a delivery given back resets it");
        floor.claimed(None, &claimed(&[4, 5, 6]), 3, t0);
        floor.claimed(Some(ClaimKey { due: 100, id: 6 }), &claimed(&[7]), 3, t0);
        assert_eq!(floor.start(t0), None, "a short claim resets it");
    }
}
