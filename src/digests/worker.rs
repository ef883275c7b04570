//! Delivery loops: claim due deliveries with a lease, render them, and send each one only
//! after the ledger has granted its intent, checking the lease again right before the message
//! is written. Outcomes go to the process's ledger writer (group commit) as each SMTP reply
//! arrives.
//!
//! What this guards against: a slow server stretching a batch past its lease (leases are
//! renewed while the batch is in flight, and a lost one stops its sends), a paused or killed
//! process (a delivery whose sender stopped mid-transaction is uncertain, never re-sent at
//! once), a relay outage (the queue pauses without spending attempts), an unsubscribe after
//! the claim (the intent checks the subscriber), and SIGTERM (unsent claims are given back at
//! once; replies already due are awaited for a few seconds).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::compose::Composer;

mod breaker;
mod claim;
mod deliver;
mod lease;
mod prepare;
mod recorder;
mod runs;

use crate::{
    AppState,
    clock::to_ms,
    store::{Claim, Outcome, RetryPolicy},
};
use breaker::Breaker;
use claim::ClaimFloor;
use deliver::deliver;
use lease::Lease;
use prepare::Prepared;
pub use recorder::Recorder;

/// Most deliveries claimed per batch: each batch costs a few transactions whatever its size,
/// and holds its rendered mails in memory until they are sent (about 20 MB for 500 of 20 KB).
pub const BATCH: i64 = 500;

/// How long replies already due are awaited after SIGTERM before the process gives up on
/// them (recording them as uncertain): the whole exit must fit a container runtime's 10 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Deliveries per claim: small enough that a batch is normally sent well within its lease
/// (`digests.lease_seconds`) at `mail.rate_per_second`. A slow server can still stretch it:
/// the lease is renewed meanwhile, and sends stop starting once a batch is older than the
/// lease (the rest is given back for any loop to take).
pub fn batch_size(rate_per_second: u32, lease_seconds: u32) -> i64 {
    (i64::from(rate_per_second) * i64::from(lease_seconds) / 3).clamp(1, BATCH)
}

/// Backoff before retry `attempt` (1-based): 1 min, 2, 4, … capped at 1 hour.
pub fn backoff(attempt: i64) -> chrono::Duration {
    let minutes = 1i64 << (attempt.clamp(1, 7) - 1);
    chrono::Duration::minutes(minutes.min(60))
}

/// How long an idle loop waits before looking for work again: only a run started through
/// this process's API wakes it at once; scheduled runs, retries falling due and runs of other
/// processes are found by this poll, so they start at most this late.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Sends in flight per SMTP connection (see [`Worker::new`]). Measured by rebuilding with each
/// value and running the driver of `benches/digests.sh` (`digests run DB SINK 4`, 20,000
/// subscribers, smtp-sink, 2 cores): 2 → 3,349 msgs/s, 4 → 4,058, 8 → 5,457–6,045,
/// 16 → 5,329–5,718, 32 → 6,021. More sends waiting for a
/// connection also means more intents in flight, which a crash turns into uncertain
/// deliveries (retried once, later; never duplicates): 8 is where the gain stops.
pub const SENDS_PER_CONNECTION: usize = 8;

/// Delivery loops per process. While one loop sends its batch, another claims, loads and
/// renders the next, so the SMTP connections do not wait for the database; the loops share
/// the `mail.concurrency` connections.
pub const LOOPS: usize = 2;

/// What the loops of a process share.
struct Shared {
    state: AppState,
    composer: Arc<Composer>,
    sends: Arc<Semaphore>,
    recorder: Recorder,
    /// Where this process's next claim starts.
    floor: Arc<ClaimFloor>,
    breaker: Breaker,
    policy: RetryPolicy,
    /// Fires [`SHUTDOWN_GRACE`] after shutdown: replies still awaited are given up.
    hard_stop: CancellationToken,
    /// When a loop last folded the run figures and read the queue depth.
    figures_read: std::sync::Mutex<Option<Instant>>,
}

/// One delivery loop of a process.
pub struct Worker {
    shared: Arc<Shared>,
    owner: String,
    lease: chrono::Duration,
    /// Most deliveries per claim ([`batch_size`]).
    batch: i64,
    /// This loop's next claim: `batch` until it has measured its pace ([`claim::paced_batch`]).
    next_batch: AtomicI64,
}

impl Worker {
    /// A worker identified by a unique `owner` name (leases are taken in that name), with
    /// its own ledger writer.
    pub fn new(state: AppState, composer: Arc<Composer>) -> Self {
        let concurrency = state.config.mail.concurrency as usize;
        let digests = &state.config.digests;
        let policy = RetryPolicy {
            max_attempts: i64::from(digests.max_attempts),
            uncertain_retry_ms: i64::from(digests.uncertain_retry_seconds) * 1000,
        };
        let hard_stop = CancellationToken::new();
        let floor = Arc::new(ClaimFloor::default());
        {
            let (shutdown, hard_stop) = (state.shutdown.clone(), hard_stop.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                hard_stop.cancel();
            });
        }
        let shared = Shared {
            // Sends in flight per connection. A send builds its message and waits for the
            // ledger to commit its intent before it needs a connection, so while
            // `concurrency` sends talk SMTP the others get ready; with fewer, the SMTP
            // connections would wait for the commits.
            sends: Arc::new(Semaphore::new(SENDS_PER_CONNECTION * concurrency)),
            recorder: Recorder::spawn(state.clone(), policy, floor.clone()),
            floor,
            breaker: Breaker::new(state.clock.clone()),
            policy,
            hard_stop,
            figures_read: std::sync::Mutex::new(None),
            composer,
            state: state.clone(),
        };
        let batch = batch_size(state.config.mail.rate_per_second, digests.lease_seconds);
        Self {
            shared: Arc::new(shared),
            owner: new_owner(),
            lease: chrono::Duration::seconds(i64::from(digests.lease_seconds)),
            batch,
            next_batch: AtomicI64::new(batch),
        }
    }

    /// Another loop of this process: its own lease owner name; the same send slots, ledger
    /// writer and relay breaker.
    pub fn sibling(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            owner: new_owner(),
            lease: self.lease,
            batch: self.batch,
            next_batch: AtomicI64::new(self.batch),
        }
    }

    /// The name leases are held under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn state(&self) -> &AppState {
        &self.shared.state
    }

    /// Waits until every outcome handed over so far is committed.
    pub async fn flush(&self) {
        self.shared.recorder.flush().await;
    }

    /// Claims and processes one batch; returns how many deliveries it claimed.
    pub async fn process_batch(&self) -> anyhow::Result<usize> {
        let state = self.state().clone();
        if state.shutdown.is_cancelled() || self.shared.breaker.paused_until().is_some() {
            return Ok(0);
        }
        let now = state.clock.now();
        let claimed = self.claim(now).await?;
        if !claimed.orphans.is_empty() {
            let runs: Vec<i64> = by_run(claimed.orphans.iter().copied())
                .into_keys()
                .collect();
            tracing::warn!(
                deliveries = claimed.orphans.len(),
                ?runs,
                "deliveries whose sender stopped mid-transaction are uncertain (retried once, later)"
            );
            state
                .metrics
                .deliveries_uncertain
                .fetch_add(claimed.orphans.len() as u64, Relaxed);
        }
        let claims = claimed.claims;
        if claims.is_empty() {
            self.finish_runs().await?;
            return Ok(0);
        }
        let n = claims.len();
        let started = Instant::now();
        let lease = Arc::new(Lease::new(
            self.owner.clone(),
            state.clock.clone(),
            to_ms(now + self.lease),
            self.lease.num_milliseconds(),
        ));
        let renewed = CancellationToken::new();
        let keeper = {
            let (lease, state, done) = (lease.clone(), state.clone(), renewed.clone());
            let ids: Vec<i64> = claims.iter().map(|c| c.id).collect();
            let every = self.lease;
            tokio::spawn(async move { lease.keep(&state, &ids, every, done).await })
        };
        let result = self.send_batch(&state, &lease, claims, started).await;
        renewed.cancel();
        let _ = keeper.await;
        result?;
        let next = claim::paced_batch(n, started.elapsed(), self.batch);
        self.next_batch.store(next, Relaxed);
        self.finish_runs().await?;
        Ok(n)
    }

    async fn send_batch(
        &self,
        state: &AppState,
        lease: &Arc<Lease>,
        claims: Vec<Claim>,
        started: Instant,
    ) -> anyhow::Result<()> {
        let shared = &self.shared;
        let prepared = self.prepare_batch(&claims).await;
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                // Nothing was sent: give the whole batch back rather than wait for the lease.
                for claim in claims {
                    self.give_back(claim, None, None).await;
                }
                shared.recorder.flush().await;
                return Err(e);
            }
        };
        let mut tasks: JoinSet<()> = JoinSet::new();
        let budget = self.lease.to_std().unwrap_or(Duration::from_secs(60));
        let mut stopped = false;
        // Deliveries left unsent because this loop's lease on them ran out, by run.
        let mut lost: Vec<(i64, i64)> = Vec::new();
        for (claim, p) in prepared {
            let (composed, schedule, cutoff) = match p {
                Prepared::Done(o) => {
                    shared.recorder.report(&self.owner, o).await;
                    continue;
                }
                Prepared::Send(mut c, schedule, cutoff) => {
                    // VERP: a bounce of this mail comes back naming this delivery.
                    c.email.envelope_from = shared.composer.bounce_address(claim.id);
                    (*c, schedule, cutoff)
                }
            };
            if !stopped {
                stopped = state.shutdown.is_cancelled()
                    || shared.breaker.paused_until().is_some()
                    || started.elapsed() > budget
                    || !lease.holds(claim.id);
            }
            let permit = if stopped {
                None
            } else {
                tokio::select! {
                    p = shared.sends.clone().acquire_owned() => Some(p?),
                    _ = state.shutdown.cancelled() => None,
                }
            };
            let Some(permit) = permit else {
                stopped = true;
                if !lease.holds(claim.id) {
                    lost.push((claim.id, claim.run_id));
                }
                // Waiting for the relay counts as deferred, with the reason.
                let retry_at = shared.breaker.paused_until();
                let why = retry_at.map(|_| "mail relay unavailable; waiting for it".to_owned());
                self.give_back(claim, why, retry_at).await;
                continue;
            };
            let shared = self.shared.clone();
            let lease = lease.clone();
            tasks.spawn(async move {
                deliver(&shared, &lease, claim, composed, schedule, cutoff).await;
                drop(permit);
            });
        }
        if !lost.is_empty() {
            for (run, deliveries) in by_run(lost.into_iter()) {
                tracing::warn!(owner = %self.owner, run, ?deliveries,
                    "lease lost before sending; these deliveries are left to their new holder");
            }
        }
        while let Some(r) = tasks.join_next().await {
            r?;
        }
        // The batch counts as handled once its outcomes are committed.
        shared.recorder.flush().await;
        Ok(())
    }

    async fn give_back(&self, claim: Claim, error: Option<String>, retry_at: Option<i64>) {
        let o = Outcome::GiveBack {
            claim,
            error,
            retry_at,
        };
        self.shared.recorder.report(&self.owner, o).await;
    }
}

/// Groups `(delivery, run)` pairs by run.
fn by_run(pairs: impl Iterator<Item = (i64, i64)>) -> BTreeMap<i64, Vec<i64>> {
    let mut m: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (delivery, run) in pairs {
        m.entry(run).or_default().push(delivery);
    }
    m
}

/// A name for leases, unique to this holder: the host, then random digits.
pub(super) fn new_owner() -> String {
    format!("{}-{:016x}", hostname(), rand::random::<u64>())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tidings".into())
}

/// Runs the worker until shutdown: after shutdown fires it claims nothing new, sends that had
/// not written their message are given back, and the outcomes are committed before it returns.
pub async fn run(
    worker: Worker,
    wakeup: Arc<tokio::sync::Notify>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    tracing::info!(owner = worker.owner(), "delivery worker started");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let handled = match worker.process_batch().await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(owner = worker.owner(), error = ?e, "delivery batch failed");
                0
            }
        };
        if handled == 0 {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wakeup.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }
    worker.flush().await;
    tracing::info!(owner = worker.owner(), "delivery worker stopped");
}
