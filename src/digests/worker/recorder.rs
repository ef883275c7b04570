//! Group commit of the delivery ledger: one writer per process takes every intent to send and
//! every outcome as soon as it is known, and commits all that waited in one transaction, then
//! the next. A send waits for its intent to be committed (so the ledger always knows which
//! messages may be on the wire); an outcome is durable within one commit window of its SMTP
//! reply, so a crash re-sends at most what was in flight or in the window.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use super::claim::ClaimFloor;
use crate::{
    AppState,
    clock::to_ms,
    store::{Intent, IntentAnswer, Outcome, Reported, RetryPolicy},
};

/// Jobs per commit window at most: bounds one transaction.
const MAX_WINDOW: usize = 1000;
/// Jobs waiting for the writer at most (senders wait when it is full: no unbounded queue).
const QUEUE: usize = 4096;

enum Job {
    Intent(Intent, oneshot::Sender<IntentAnswer>),
    Outcome(Reported),
    Flush(oneshot::Sender<()>),
}

/// The handle senders use; cheap to clone. The writer stops when every handle is gone.
#[derive(Clone)]
pub struct Recorder {
    jobs: mpsc::Sender<Job>,
}

impl Recorder {
    /// Starts the writer of this process; what it gives back to the queue moves `floor`.
    pub fn spawn(state: AppState, policy: RetryPolicy, floor: Arc<ClaimFloor>) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(state, policy, floor, rx));
        Self { jobs }
    }

    /// Asks to send `delivery` now; answered once the intent is committed.
    pub async fn intent(&self, delivery: i64, owner: &str) -> IntentAnswer {
        let (tx, rx) = oneshot::channel();
        let job = Job::Intent(
            Intent {
                delivery,
                owner: owner.to_owned(),
            },
            tx,
        );
        if self.jobs.send(job).await.is_err() {
            return IntentAnswer::Lost;
        }
        rx.await.unwrap_or(IntentAnswer::Lost)
    }

    /// Hands over an outcome; it is committed in the next window.
    pub async fn report(&self, owner: &str, outcome: Outcome) {
        let job = Job::Outcome(Reported {
            owner: owner.to_owned(),
            outcome,
        });
        if self.jobs.send(job).await.is_err() {
            tracing::error!("delivery outcome dropped: the ledger writer has stopped");
        }
    }

    /// Waits until everything handed over before this call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn writer(
    state: AppState,
    policy: RetryPolicy,
    floor: Arc<ClaimFloor>,
    mut rx: mpsc::Receiver<Job>,
) {
    let lease = chrono::Duration::seconds(i64::from(state.config.digests.lease_seconds));
    let mut jobs = Vec::with_capacity(MAX_WINDOW);
    while rx.recv_many(&mut jobs, MAX_WINDOW).await > 0 {
        let mut intents = Vec::new();
        let mut replies = Vec::new();
        let mut outcomes = Vec::new();
        let mut flushes = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Intent(i, reply) => {
                    intents.push(i);
                    replies.push(reply);
                }
                Job::Outcome(o) => outcomes.push(o),
                Job::Flush(f) => flushes.push(f),
            }
        }
        if !intents.is_empty() || !outcomes.is_empty() {
            commit(&state, &policy, lease, intents, replies, &outcomes, &floor).await;
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Commits one window, retrying while the database is unavailable: an outcome that was
/// handed over is not dropped (its delivery would be re-sent). During shutdown the retries
/// stop after a few seconds; the deliveries concerned are then treated as uncertain by
/// whoever claims them next.
async fn commit(
    state: &AppState,
    policy: &RetryPolicy,
    lease: chrono::Duration,
    intents: Vec<Intent>,
    replies: Vec<oneshot::Sender<IntentAnswer>>,
    outcomes: &[Reported],
    floor: &ClaimFloor,
) {
    let mut delay = Duration::from_millis(100);
    let mut tries = 0;
    let window = loop {
        let now = state.clock.now();
        match state
            .store
            .commit_window(to_ms(now), to_ms(now + lease), policy, &intents, outcomes)
            .await
        {
            Ok(w) => break w,
            Err(e) => {
                tries += 1;
                if state.shutdown.is_cancelled() && tries >= 5 {
                    tracing::error!(error = ?e, outcomes = outcomes.len(),
                        "delivery outcomes not recorded before exit");
                    return;
                }
                tracing::error!(error = ?e, retry_in = ?delay, "cannot record delivery outcomes; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    for (reply, answer) in replies.into_iter().zip(&window.answers) {
        let _ = reply.send(*answer);
    }
    // Back in the queue at its old place, perhaps before where the next claim would start.
    let returned = outcomes
        .iter()
        .zip(&window.applied)
        .any(|(r, ok)| *ok && matches!(r.outcome, Outcome::GiveBack { retry_at: None, .. }));
    if returned {
        floor.returned();
    }
    let r = window.recorded;
    let m = &state.metrics;
    m.deliveries_sent.fetch_add(r.sent, Relaxed);
    m.deliveries_skipped.fetch_add(r.skipped, Relaxed);
    m.deliveries_failed.fetch_add(r.failed, Relaxed);
    m.deliveries_bounced.fetch_add(r.bounced, Relaxed);
    m.deliveries_uncertain.fetch_add(r.uncertain, Relaxed);
    m.deliveries_deferred.fetch_add(r.retried, Relaxed);
    log_outcomes(policy, outcomes, &window.applied);
}

/// One line per delivery that gave up, bounced or became uncertain; retries are counted in
/// the metrics and the run figures, not logged one by one.
fn log_outcomes(policy: &RetryPolicy, outcomes: &[Reported], applied: &[bool]) {
    for (r, ok) in outcomes.iter().zip(applied) {
        if !*ok {
            continue;
        }
        match &r.outcome {
            Outcome::Transient { claim, error, .. }
                if claim.attempts + 1 >= policy.max_attempts =>
            {
                tracing::warn!(run = claim.run_id, delivery = claim.id, attempts = claim.attempts + 1,
                    error = %error, "delivery failed: attempts used up");
            }
            Outcome::Permanent { claim, error } => {
                tracing::warn!(run = claim.run_id, delivery = claim.id, subscriber = claim.subscriber_id,
                    error = %error, "delivery bounced; subscriber marked bounced");
            }
            Outcome::Uncertain { claim, error } => {
                tracing::warn!(run = claim.run_id, delivery = claim.id, error = %error,
                    "delivery uncertain: no answer after the final \".\"");
            }
            _ => {}
        }
    }
}
