//! Send rates: `mail.rate_per_second` and `[[mail.domain_limits]]`. With a database
//! ([`Rate::Shared`], [`DomainLimits`] with a store) every process of it counts against the
//! same rates (SPEC §10); without one ([`Rate::Local`]) each process keeps them on its own.

mod domains;
mod gcra;
mod shared;

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

pub use domains::{DomainLimits, Held, Patience};
pub use shared::SharedRate;

/// Hands out send slots `1 / rate` apart within one process; waiting is bounded by the number
/// of callers.
pub struct Throttle {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Throttle {
    /// A throttle of `rate` sends per second (at least 1).
    pub fn per_second(rate: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / rate.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Resolves at this caller's slot.
    pub async fn wait(&self) {
        tokio::time::sleep_until(self.slot()).await;
    }

    /// Takes the next slot: the instant this caller may send.
    fn slot(&self) -> Instant {
        let mut next = self.next.lock().expect("throttle lock");
        let slot = (*next).max(Instant::now());
        *next = slot + self.interval;
        slot
    }
}

/// `mail.rate_per_second`, for this process or for every process of its database.
pub enum Rate {
    Local(Throttle),
    Shared(SharedRate),
}

impl Rate {
    /// Resolves at this caller's slot.
    pub async fn wait(&self) {
        match self {
            Rate::Local(t) => t.wait().await,
            Rate::Shared(s) => s.wait().await,
        }
    }

    /// Gives back slots reserved and not used.
    pub async fn close(&self) {
        if let Rate::Shared(s) = self {
            s.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ten_sends_at_fifty_per_second_are_spaced_twenty_ms_apart() {
        let t = Throttle::per_second(50);
        let start = Instant::now();
        for _ in 0..10 {
            t.wait().await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(180), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
