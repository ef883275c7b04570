//! Time as a dependency: the real clock in production, a clock tests can move.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Where "now" comes from. Cloning shares the same clock.
#[derive(Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// A clock that only moves when told to; for tests.
    Manual(Arc<ManualClock>),
}

/// State of a manual clock; waiters are woken each time it moves.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    moved: watch::Sender<DateTime<Utc>>,
    /// The instants tasks are waiting for, so that a test can tell a background loop has
    /// parked until a given instant (rather than sleep and hope it has).
    waiting: Mutex<Vec<DateTime<Utc>>>,
}

/// One task's place in [`ManualClock::waiting`], given up when its wait ends or is dropped.
struct Waiting<'a> {
    clock: &'a ManualClock,
    until: DateTime<Utc>,
}

impl<'a> Waiting<'a> {
    fn new(clock: &'a ManualClock, until: DateTime<Utc>) -> Self {
        clock.waiting.lock().expect("clock lock").push(until);
        Self { clock, until }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiting = self.clock.waiting.lock().expect("clock lock");
        if let Some(i) = waiting.iter().position(|t| *t == self.until) {
            waiting.swap_remove(i);
        }
    }
}

impl Clock {
    /// A manual clock starting at `start`.
    pub fn manual(start: DateTime<Utc>) -> Self {
        let (moved, _) = watch::channel(start);
        Clock::Manual(Arc::new(ManualClock {
            now: Mutex::new(start),
            moved,
            waiting: Mutex::new(Vec::new()),
        }))
    }

    /// The instants tasks are waiting for on a manual clock, earliest first (empty on the
    /// system clock): lets tests see that a loop has scheduled its next step.
    pub fn waiting(&self) -> Vec<DateTime<Utc>> {
        match self {
            Clock::System => Vec::new(),
            Clock::Manual(m) => {
                let mut w = m.waiting.lock().expect("clock lock").clone();
                w.sort_unstable();
                w
            }
        }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(m) => *m.now.lock().expect("clock lock"),
        }
    }

    /// Sets a manual clock to `t` (no-op on the system clock).
    pub fn set(&self, t: DateTime<Utc>) {
        if let Clock::Manual(m) = self {
            *m.now.lock().expect("clock lock") = t;
            m.moved.send_replace(t);
        }
    }

    /// Moves a manual clock forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        self.set(self.now() + d);
    }

    /// Resolves once the clock reads `t` or later.
    pub async fn sleep_until(&self, t: DateTime<Utc>) {
        match self {
            Clock::System => loop {
                let now = Utc::now();
                if now >= t {
                    return;
                }
                // Re-read the wall clock at least every minute so a clock step is noticed.
                let wait = (t - now)
                    .to_std()
                    .unwrap_or_default()
                    .min(std::time::Duration::from_secs(60));
                tokio::time::sleep(wait + std::time::Duration::from_millis(1)).await;
            },
            Clock::Manual(m) => {
                let mut rx = m.moved.subscribe();
                let _waiting = Waiting::new(m, t);
                loop {
                    if *rx.borrow_and_update() >= t {
                        return;
                    }
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch, the storage form of every instant.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_ms`].
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
