//! `mail.rate_per_second`: sends are spaced evenly, whoever sends them.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

/// Hands out send slots `1 / rate` apart; waiting is bounded by the number of callers.
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
        let slot = {
            let mut next = self.next.lock().expect("throttle lock");
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
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
