//! `mail.rate_per_second` for every process of one database together.
//!
//! The slots live on one timeline in the database (`send_budgets`, a GCRA with no burst). A
//! database round trip per message would cost too much at 1000 messages a second, so a process
//! reserves a block of consecutive slots in one short transaction and spends them locally:
//! blocks of different processes interleave on the timeline, so the messages of all of them
//! together stay one interval apart.
//!
//! A slot is spent no earlier than its instant and at least an interval after this process's
//! previous message, so a process never sends faster than the rate by itself; a slot may be
//! spent late (its sender was busy), but only until [`BLOCK`] after its block's last instant,
//! when what is left of the block lapses. Over any second all processes together therefore
//! send at most about the rate plus one block, and in a steady stream exactly the rate.
//!
//! Blocks follow the demand: one that is used up doubles the next (up to [`BLOCK`] worth of
//! the rate); one that lapses sizes the next by what it served. A process whose demand is below
//! the rate thus asks the database about ten times a second, not once per message; one that
//! stops sending leaves at most one block unused, and [`SharedRate::close`] gives that back.
//!
//! When the database does not answer, the process keeps to the rate on its own (the local
//! [`Throttle`]), logs that once, and asks the database again a few seconds later.

use std::{sync::Mutex, time::Duration};

use tokio::time::{Instant, timeout};

use super::{Throttle, gcra};
use crate::store::Store;

/// The budget's name in `send_budgets`.
const NAME: &str = "rate";
/// The most one block holds (this much of the rate), and how long its slots may be spent late.
pub const BLOCK: Duration = Duration::from_millis(100);
/// Longest wait for the database before falling back to the local throttle.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long the local throttle stands in before the database is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Slots reserved and not yet spent.
#[derive(Debug, Default)]
struct Block {
    /// The next slot's instant, locally and on the database's timeline (µs).
    next: Option<Instant>,
    next_us: i64,
    left: i64,
    /// Slots the block held, and how many were spent.
    size: i64,
    used: i64,
    /// The timeline value right after the block's last slot (the budget's value if nobody
    /// reserved since).
    end_us: i64,
    /// What is left lapses at this instant.
    lapses: Option<Instant>,
    /// This process's previous message (kept across blocks).
    last: Option<Instant>,
}

impl Block {
    /// A block of `size` slots from `start` (`start_us` on the timeline).
    fn fill(&mut self, start: Instant, start_us: i64, size: i64, interval: Duration) {
        let span = interval * u32::try_from(size).unwrap_or(u32::MAX);
        *self = Block {
            next: Some(start),
            next_us: start_us,
            left: size,
            size,
            used: 0,
            end_us: start_us + size * interval.as_micros() as i64,
            lapses: Some(start + span + BLOCK),
            last: self.last,
        };
    }

    /// Spends the next slot: the instant this caller may send, or `None` when the block is
    /// spent or has lapsed.
    fn take(&mut self, now: Instant, interval: Duration) -> Option<Instant> {
        let next = self.next?;
        if self.left == 0 || self.lapses.is_some_and(|l| now >= l) {
            self.left = 0;
            return None;
        }
        let mut at = next.max(now);
        if let Some(last) = self.last {
            at = at.max(last + interval);
        }
        self.last = Some(at);
        self.next = Some(next + interval);
        self.next_us += interval.as_micros() as i64;
        self.left -= 1;
        self.used += 1;
        Some(at)
    }

    /// How many slots to ask for next: double a block that was used up, else what it served.
    fn next_size(&self, max: i64) -> i64 {
        if self.size > 0 && self.used == self.size {
            (self.size * 2).clamp(1, max)
        } else {
            self.used.clamp(1, max)
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
                let now = Instant::now();
                block.fill(now + wait, start_us, size, self.interval);
                block.take(now, self.interval).unwrap_or(now + wait)
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

    const I: Duration = Duration::from_millis(10);

    fn block(start: Instant, size: i64) -> Block {
        let mut b = Block::default();
        b.fill(start, 0, size, I);
        b
    }

    #[test]
    fn a_used_up_block_spends_its_slots_one_interval_apart_and_doubles() {
        let t = Instant::now();
        let mut b = block(t, 3);
        assert_eq!(b.take(t, I), Some(t));
        assert_eq!(b.take(t, I), Some(t + I));
        assert_eq!(b.take(t, I), Some(t + 2 * I));
        assert_eq!(b.take(t, I), None);
        assert_eq!(b.next_size(100), 6);
        assert_eq!(b.next_size(4), 4, "never more than the most a block holds");
    }

    #[test]
    fn late_slots_go_one_interval_apart_and_lapse_after_the_block() {
        let t = Instant::now();
        let mut b = block(t, 10);
        // A caller 35 ms late sends now; the next one an interval later, never in a burst.
        let now = t + Duration::from_millis(35);
        assert_eq!(b.take(now, I), Some(now));
        assert_eq!(b.take(now, I), Some(now + I));
        // The block's slots end at 100 ms; 100 ms later what is left lapses.
        assert!(b.take(t + Duration::from_millis(199), I).is_some());
        assert_eq!(b.take(t + Duration::from_millis(200), I), None);
        assert_eq!(
            b.next_size(100),
            3,
            "the next block holds what this one served"
        );
    }

    #[test]
    fn the_spacing_holds_across_blocks() {
        let t = Instant::now();
        let mut b = block(t, 1);
        assert_eq!(b.take(t, I), Some(t));
        b.fill(t, 10_000, 1, I);
        assert_eq!(b.take(t, I), Some(t + I));
    }
}
