//! `mail.rate_per_second` for every process of one database together.
//!
//! The slots live on one timeline in the database (`send_budgets`, a GCRA with no burst). A
//! database round trip per message would cost too much at 1000 messages a second, so a process
//! reserves a block of consecutive slots in one short transaction and hands them out locally,
//! each at its own instant: blocks of different processes interleave on the timeline, so the
//! messages of all of them together stay one interval apart. A block starts at one slot and
//! doubles while the process uses up each block before its end (it has more to send than its
//! blocks hold), up to [`BLOCK`] worth of slots; a slot not taken within an interval of its
//! instant is dropped, not sent late in a burst. When a process stops needing slots, at most
//! the rest of one block goes unused, and [`SharedRate::close`] gives that back.
//!
//! When the database does not answer, the process keeps to the rate on its own (the local
//! [`Throttle`]), logs that once, and asks the database again a few seconds later.

use std::{sync::Mutex, time::Duration};

use tokio::time::{Instant, timeout};

use super::{Throttle, gcra};
use crate::store::Store;

/// The budget's name in `send_budgets`.
const NAME: &str = "rate";
/// The most one block holds: this much of the rate.
pub const BLOCK: Duration = Duration::from_millis(100);
/// Longest wait for the database before falling back to the local throttle.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long the local throttle stands in before the database is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Slots reserved and not yet handed out.
#[derive(Debug, Default)]
struct Block {
    /// The next slot, locally and on the database's timeline (µs).
    next: Option<Instant>,
    next_us: i64,
    left: i64,
    /// Slots the block held, and the timeline value right after its last (the budget's value
    /// if nobody reserved since).
    size: i64,
    end_us: i64,
    /// Every slot was handed out before the instant of the last: demand is at least the rate.
    used_up_early: bool,
}

impl Block {
    /// Hands out the next slot, dropping those whose instant passed more than `interval` ago.
    fn take(&mut self, now: Instant, interval: Duration) -> Option<Instant> {
        let mut next = self.next?;
        if self.left > 0 && now > next + interval {
            let late = (now - next).as_micros() / interval.as_micros().max(1);
            let skip = i64::try_from(late).unwrap_or(i64::MAX).min(self.left);
            next += interval * u32::try_from(skip).unwrap_or(u32::MAX);
            self.next_us += skip * interval.as_micros() as i64;
            self.left -= skip;
            if self.left == 0 {
                self.used_up_early = false;
            }
        }
        if self.left == 0 {
            self.next = Some(next);
            return None;
        }
        self.left -= 1;
        self.next = Some(next + interval);
        self.next_us += interval.as_micros() as i64;
        if self.left == 0 {
            self.used_up_early = now < next;
        }
        Some(next)
    }

    /// How many slots to ask for next.
    fn next_size(&self, max: i64) -> i64 {
        if self.used_up_early {
            (self.size * 2).clamp(1, max)
        } else {
            1
        }
    }
}

/// The shared rate of one process.
pub struct SharedRate {
    store: Store,
    interval: Duration,
    max_block: i64,
    local: Throttle,
    block: tokio::sync::Mutex<Block>,
    /// Set while the database does not answer: the local throttle stands in until then.
    outage: Mutex<Option<Instant>>,
}

impl SharedRate {
    /// `rate` sends per second (at least 1) for all processes of `store`'s database together.
    pub fn per_second(store: Store, rate: u32) -> Self {
        let rate = rate.max(1);
        let interval = Duration::from_secs(1) / rate;
        Self {
            store,
            interval,
            max_block: (i64::from(rate) * BLOCK.as_millis() as i64 / 1000).max(1),
            local: Throttle::per_second(rate),
            block: tokio::sync::Mutex::new(Block::default()),
            outage: Mutex::new(None),
        }
    }

    /// Resolves at this caller's slot.
    pub async fn wait(&self) {
        let slot = self.slot().await;
        tokio::time::sleep_until(slot).await;
    }

    async fn slot(&self) -> Instant {
        let mut block = self.block.lock().await;
        if let Some(slot) = block.take(Instant::now(), self.interval) {
            return slot;
        }
        if self
            .outage
            .lock()
            .expect("rate lock")
            .is_some_and(|until| Instant::now() < until)
        {
            return self.local.slot();
        }
        let size = block.next_size(self.max_block);
        match self.reserve(size).await {
            Ok((start_us, wait)) => {
                self.answered();
                let next = Instant::now() + wait;
                *block = Block {
                    next: Some(next),
                    next_us: start_us,
                    left: size,
                    size,
                    end_us: start_us + size * self.interval.as_micros() as i64,
                    used_up_early: false,
                };
                block.take(next, self.interval).unwrap_or(next)
            }
            Err(e) => {
                self.unanswered(&e);
                self.local.slot()
            }
        }
    }

    /// Reserves `size` slots: the first one's timeline value, and how long until it comes.
    async fn reserve(&self, size: i64) -> anyhow::Result<(i64, Duration)> {
        let ask = gcra::Ask {
            interval_us: self.interval.as_micros() as i64,
            count: size,
            max_wait_us: i64::MAX,
            max_ahead_us: (self.interval.as_micros() as i64 * 1000).max(10_000_000),
        };
        let reserved = self.store.update_send_budget(NAME, None, |b, now| {
            gcra::reserve(b, now, ask).map(|start| (start, start - now))
        });
        match timeout(ANSWER_WITHIN, reserved).await {
            Ok(Ok(Ok((start, wait_us)))) => {
                Ok((start, Duration::from_micros(wait_us.max(0) as u64)))
            }
            Ok(Ok(Err(_))) => anyhow::bail!("no send slot reserved"),
            Ok(Err(e)) => Err(e),
            Err(_) => anyhow::bail!("the database did not answer within {ANSWER_WITHIN:?}"),
        }
    }

    fn answered(&self) {
        if self.outage.lock().expect("rate lock").take().is_some() {
            tracing::info!("shared send rate back: the database answers again");
        }
    }

    fn unanswered(&self, e: &anyhow::Error) {
        let mut outage = self.outage.lock().expect("rate lock");
        if outage.is_none() {
            tracing::warn!(error = ?e, retry_in = ?RETRY_AFTER,
                "shared send rate unavailable; this process keeps to mail.rate_per_second on its own meanwhile");
        }
        *outage = Some(Instant::now() + RETRY_AFTER);
    }

    /// Gives back the slots reserved and not used (when nobody reserved after them), so that
    /// the other processes may use them. Best effort.
    pub async fn close(&self) {
        let mut block = self.block.lock().await;
        if block.left == 0 {
            return;
        }
        let from_us = block.end_us;
        let to_us = block.next_us;
        block.left = 0;
        let given = self.store.give_back_send_slots(NAME, from_us, to_us);
        if let Ok(Err(e)) = timeout(ANSWER_WITHIN, given).await {
            tracing::debug!(error = ?e, "unused send slots not given back");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(next: Instant, size: i64) -> Block {
        Block {
            next: Some(next),
            left: size,
            size,
            ..Block::default()
        }
    }

    #[test]
    fn a_block_hands_out_its_slots_one_interval_apart() {
        let t = Instant::now();
        let i = Duration::from_millis(10);
        let mut b = block(t, 3);
        assert_eq!(b.take(t, i), Some(t));
        assert_eq!(b.take(t, i), Some(t + i));
        assert_eq!(b.take(t, i), Some(t + 2 * i));
        assert_eq!(b.take(t, i), None);
        assert!(b.used_up_early, "all handed out before the last slot came");
        assert_eq!(b.next_size(100), 6);
    }

    #[test]
    fn slots_nobody_took_in_time_are_dropped_not_sent_in_a_burst() {
        let t = Instant::now();
        let i = Duration::from_millis(10);
        let mut b = block(t, 10);
        // 35 ms later: the slots of 0, 10 and 20 ms are gone; 30 ms is still fine to use.
        let now = t + Duration::from_millis(35);
        assert_eq!(b.take(now, i), Some(t + 3 * i));
        assert_eq!(b.left, 6);
        let late = t + Duration::from_secs(1);
        assert_eq!(b.take(late, i), None);
        assert!(!b.used_up_early);
        assert_eq!(b.next_size(100), 1, "demand below the rate: small blocks");
    }
}
