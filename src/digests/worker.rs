//! Delivery workers: claim pending deliveries with a lease, render, send, and record the
//! outcomes of a batch in one transaction (sent deliveries advance the watermark there too).

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use chrono::Utc;
use tokio::{sync::Semaphore, task::JoinSet};

use super::compose::Composer;

mod prepare;
use crate::{AppState, clock::to_ms, mail::SendError, store::Outcome};
use prepare::{ContentCache, Prepared};

/// Most deliveries claimed per batch: each batch costs a few transactions whatever its size,
/// and holds its rendered mails in memory until they are sent (about 20 MB for 500 of 20 KB).
pub const BATCH: i64 = 500;

/// Deliveries per claim: small enough that a batch is sent well within its lease
/// (`digests.lease_seconds`) at `mail.rate_per_second`, so that no other worker takes over
/// deliveries still being sent.
pub fn batch_size(rate_per_second: u32, lease_seconds: u32) -> i64 {
    (i64::from(rate_per_second) * i64::from(lease_seconds) / 3).clamp(1, BATCH)
}

/// Backoff before retry `attempt` (1-based): 1 min, 2, 4, … capped at 1 hour.
pub fn backoff(attempt: i64) -> chrono::Duration {
    let minutes = 1i64 << (attempt.clamp(1, 7) - 1);
    chrono::Duration::minutes(minutes.min(60))
}

/// Delivery loops per process. While one loop sends its batch, another claims, loads and
/// renders the next, so the SMTP connections do not wait for the database; the loops share
/// the `mail.concurrency` connections.
pub const LOOPS: usize = 2;

/// One delivery loop of a process.
pub struct Worker {
    state: AppState,
    owner: String,
    composer: Arc<Composer>,
    sends: Arc<Semaphore>,
    /// When this loop last counted the pending deliveries (the queue-depth gauge).
    depth_counted: std::sync::Mutex<Option<std::time::Instant>>,
    lease: chrono::Duration,
    batch: i64,
}

impl Worker {
    /// A worker identified by a unique `owner` name (leases are taken in that name).
    pub fn new(state: AppState, composer: Arc<Composer>) -> Self {
        let concurrency = state.config.mail.concurrency as usize;
        Self {
            owner: format!("{}-{:016x}", hostname(), rand::random::<u64>()),
            // Twice the connections: a send builds its message before it needs a connection,
            // so while `concurrency` sends talk SMTP the others get their mail ready.
            sends: Arc::new(Semaphore::new(2 * concurrency)),
            lease: chrono::Duration::seconds(i64::from(state.config.digests.lease_seconds)),
            batch: batch_size(
                state.config.mail.rate_per_second,
                state.config.digests.lease_seconds,
            ),
            state,
            composer,
            depth_counted: std::sync::Mutex::new(None),
        }
    }

    /// Another loop of this process: its own lease owner name, the same send slots (the
    /// mailer's pool still holds the connections to `mail.concurrency`).
    pub fn sibling(&self) -> Self {
        Self {
            owner: format!("{}-{:016x}", hostname(), rand::random::<u64>()),
            sends: self.sends.clone(),
            state: self.state.clone(),
            composer: self.composer.clone(),
            depth_counted: std::sync::Mutex::new(None),
            lease: self.lease,
            batch: self.batch,
        }
    }

    /// The name leases are held under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims and processes one batch; returns how many deliveries it handled.
    pub async fn process_batch(&self) -> anyhow::Result<usize> {
        let now = self.state.clock.now();
        let claims = self
            .state
            .store
            .claim_deliveries(&self.owner, to_ms(now), to_ms(now + self.lease), self.batch)
            .await?;
        if claims.is_empty() {
            self.finish_runs().await?;
            return Ok(0);
        }
        let ctx = self.load_context(&claims).await?;
        let mut content_cache: ContentCache = HashMap::new();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let n = claims.len();
        let mut prepared = Vec::with_capacity(n);
        let mut tokens = Vec::new();
        for claim in claims {
            let p = self.prepare(&ctx, &claim, &mut content_cache).await?;
            if let Prepared::Send(c, ..) = &p {
                tokens.push((
                    claim.subscriber_id,
                    ctx.recipients[&claim.subscriber_id].generation,
                    c.token_hash.clone(),
                ));
            }
            prepared.push((claim, p));
        }
        // The links in the mails must work before the mails exist.
        self.state
            .store
            .ensure_manage_tokens(&tokens, to_ms(now))
            .await?;
        for (claim, p) in prepared {
            match p {
                Prepared::Done(o) => {
                    tasks.spawn(async move { o });
                }
                Prepared::Send(message, schedule, cutoff) => {
                    let permit = self.sends.clone().acquire_owned().await?;
                    let composer = self.composer.clone();
                    let clock = self.state.clock.clone();
                    tasks.spawn(async move {
                        let message_id = message.message_id.clone();
                        let result = composer.send(&message.email).await;
                        drop(permit);
                        match result {
                            Ok(()) => Outcome::Sent {
                                claim,
                                message_id,
                                schedule,
                                cutoff,
                            },
                            Err(e @ SendError::Permanent { .. }) => Outcome::Permanent {
                                claim,
                                error: e.to_string(),
                            },
                            // Transient, and also an invalid message: retried, then failed.
                            Err(e) => {
                                let error = e.to_string();
                                let retry_at = to_ms(clock.now() + backoff(claim.attempts + 1));
                                Outcome::Transient {
                                    claim,
                                    error,
                                    retry_at,
                                }
                            }
                        }
                    });
                }
            }
        }
        let mut outcomes = Vec::with_capacity(n);
        while let Some(o) = tasks.join_next().await {
            outcomes.push(o?);
        }
        let max_attempts = i64::from(self.state.config.digests.max_attempts);
        let r = self
            .state
            .store
            .record_outcomes(
                &self.owner,
                to_ms(self.state.clock.now()),
                max_attempts,
                &outcomes,
            )
            .await?;
        let m = &self.state.metrics;
        m.deliveries_sent.fetch_add(r.sent, Relaxed);
        m.deliveries_skipped.fetch_add(r.skipped, Relaxed);
        m.deliveries_failed.fetch_add(r.failed, Relaxed);
        m.deliveries_bounced.fetch_add(r.bounced, Relaxed);
        if r.stale > 0 {
            tracing::warn!(
                stale = r.stale,
                "lease lost before recording; another worker owns those deliveries"
            );
        }
        self.finish_runs().await?;
        Ok(n)
    }

    async fn finish_runs(&self) -> anyhow::Result<()> {
        for id in self
            .state
            .store
            .finish_runs(to_ms(self.state.clock.now()))
            .await?
        {
            tracing::info!(run = id, "digest run done");
        }
        // Counting the queue scans every pending delivery: at most once a second.
        {
            let mut counted = self.depth_counted.lock().expect("depth lock");
            if counted.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return Ok(());
            }
            *counted = Some(std::time::Instant::now());
        }
        let depth = self.state.store.pending_deliveries().await?;
        self.state
            .metrics
            .delivery_queue_depth
            .store(depth.max(0) as u64, Relaxed);
        Ok(())
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tidings".into())
}

/// Runs the worker until shutdown: after shutdown fires it claims nothing new, and the batch in
/// flight finishes (each send is bounded by the mail timeout).
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
                tracing::error!(error = ?e, "delivery batch failed");
                0
            }
        };
        if handled == 0 {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wakeup.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    tracing::info!(at = %Utc::now(), "delivery worker stopped");
}
