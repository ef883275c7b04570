//! A process-wide send throttle: at most `rate` sends start per second, evenly spaced.

use std::time::Duration;

use tokio::{sync::Mutex, time::Instant};

/// Spaces send starts `1/rate` seconds apart.
pub struct Throttle {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Throttle {
    /// A throttle of `rate` per second (at least 1).
    pub fn new(rate: u32) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            // No credit is saved up while idle beyond one slot: bursts stay bounded.
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
