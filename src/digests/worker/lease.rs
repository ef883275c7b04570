//! The leases of one batch: renewed while the batch is in flight, and checked right before a
//! message is written, so a loop never sends what it no longer holds (fencing).

use std::{
    collections::HashSet,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicI64, Ordering::SeqCst},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use futures_util::future::BoxFuture;

use super::Recorder;
use crate::{
    AppState,
    clock::{Clock, to_ms},
    mail::Gate,
    store::IntentAnswer,
};

/// What a loop knows of its leases.
pub struct Lease {
    pub owner: String,
    clock: Clock,
    /// The `lease_until` the database last confirmed for this loop's deliveries (ms).
    held_until: AtomicI64,
    /// Stop writing messages this long before the lease ends: covers the time between the
    /// check and the final "." and a little clock difference between processes.
    margin_ms: i64,
    /// Deliveries of the batch the last renewal did not find held by this loop.
    lost: Mutex<HashSet<i64>>,
}

impl Lease {
    pub fn new(owner: String, clock: Clock, held_until: i64, lease_ms: i64) -> Self {
        Self {
            owner,
            clock,
            held_until: AtomicI64::new(held_until),
            margin_ms: (lease_ms / 4).min(10_000),
            lost: Mutex::default(),
        }
    }

    /// True while this loop may still write the message of `delivery`.
    pub fn holds(&self, delivery: i64) -> bool {
        to_ms(self.clock.now()) + self.margin_ms < self.held_until.load(SeqCst)
            && !self.lost.lock().expect("lease lock").contains(&delivery)
    }

    /// Renews the leases every third of their length until `done` fires. A delivery of `batch`
    /// that the renewal no longer finds held was taken over (or finished): never written again.
    pub async fn keep(
        &self,
        state: &AppState,
        batch: &[i64],
        lease: chrono::Duration,
        done: CancellationToken,
    ) {
        let every = (lease / 3).to_std().unwrap_or(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let until = to_ms(state.clock.now() + lease);
            match state.store.renew_leases(&self.owner, batch, until).await {
                Ok(held) => {
                    let held: HashSet<i64> = held.into_iter().collect();
                    let mut lost = self.lost.lock().expect("lease lock");
                    lost.extend(batch.iter().filter(|id| !held.contains(id)));
                    drop(lost);
                    self.held_until.store(until, SeqCst);
                }
                // Without a renewal the lease runs out, and `holds` stops the sends in time.
                Err(e) => {
                    tracing::warn!(owner = %self.owner, error = ?e, "cannot renew delivery leases")
                }
            }
        }
    }
}

/// The two checks of one send. When the mailer is ready to use the transport (after the rate
/// limit), the ledger is asked to commit the intent to send (still held, subscriber still
/// active); right before the message is written, the lease is checked again. Remembers the
/// ledger's answer and whether the message was let through (then it may have arrived).
pub struct SendGate<'a> {
    pub lease: &'a Lease,
    pub recorder: &'a Recorder,
    pub delivery: i64,
    pub shutdown: &'a CancellationToken,
    pub answer: Mutex<Option<IntentAnswer>>,
    pub written: AtomicBool,
}

impl SendGate<'_> {
    /// The ledger's answer to the intent, if it was asked.
    pub fn answer(&self) -> Option<IntentAnswer> {
        *self.answer.lock().expect("gate lock")
    }

    pub fn written(&self) -> bool {
        self.written.load(SeqCst)
    }
}

impl Gate for SendGate<'_> {
    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            if self.shutdown.is_cancelled() || !self.lease.holds(self.delivery) {
                return false;
            }
            let answer = self.recorder.intent(self.delivery, &self.lease.owner).await;
            *self.answer.lock().expect("gate lock") = Some(answer);
            answer == IntentAnswer::Go
        })
    }

    fn before_data(&self) -> bool {
        if self.shutdown.is_cancelled() || !self.lease.holds(self.delivery) {
            return false;
        }
        self.written.store(true, SeqCst);
        true
    }
}
