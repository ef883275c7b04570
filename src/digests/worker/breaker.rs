//! A circuit breaker for the mail relay: when it cannot be reached (or refuses service), the
//! delivery loops stop claiming for a while instead of spending every delivery's attempts, and
//! the outage is logged once when it starts and once when it ends.

use std::sync::Mutex;

use crate::clock::{Clock, to_ms};

/// First pause after a failure; doubled on each failed probe up to [`MAX_PAUSE_MS`].
const FIRST_PAUSE_MS: i64 = 5_000;
const MAX_PAUSE_MS: i64 = 300_000;

#[derive(Default)]
struct State {
    /// Closed when `None`; else open until this instant (ms), then one probe is let through.
    open_until: Option<i64>,
    pause_ms: i64,
    /// When the outage began, and the sends given back since.
    since: Option<i64>,
    deferred: u64,
}

/// Shared by the delivery loops of a process.
pub struct Breaker {
    clock: Clock,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            state: Mutex::default(),
        }
    }

    /// While open: the instant (ms) until which nothing should be claimed.
    pub fn paused_until(&self) -> Option<i64> {
        let now = to_ms(self.clock.now());
        let s = self.state.lock().expect("breaker lock");
        s.open_until.filter(|until| now < *until)
    }

    /// The relay failed: opens (or re-opens, with a longer pause) the breaker. Returns the
    /// instant (ms) the delivery should wait for.
    pub fn trip(&self, why: &str) -> i64 {
        let now = to_ms(self.clock.now());
        let mut s = self.state.lock().expect("breaker lock");
        s.deferred += 1;
        if let Some(until) = s.open_until.filter(|until| now < *until) {
            return until; // another send of the same outage
        }
        s.pause_ms = if s.since.is_none() {
            FIRST_PAUSE_MS
        } else {
            (s.pause_ms * 2).min(MAX_PAUSE_MS)
        };
        let until = now + s.pause_ms;
        s.open_until = Some(until);
        if s.since.is_none() {
            s.since = Some(now);
            tracing::warn!(error = %why, pause_ms = s.pause_ms,
                "mail relay unavailable; deliveries paused (no attempts are spent)");
        } else {
            tracing::debug!(error = %why, pause_ms = s.pause_ms, "mail relay still unavailable");
        }
        until
    }

    /// The relay answered about a message: closes the breaker, logging the end of an outage.
    pub fn success(&self) {
        let mut s = self.state.lock().expect("breaker lock");
        if let Some(since) = s.since.take() {
            let seconds = (to_ms(self.clock.now()) - since) / 1000;
            tracing::info!(
                outage_seconds = seconds,
                deferred_sends = s.deferred,
                "mail relay back; deliveries resume"
            );
        }
        *s = State::default();
    }
}
