//! Retention of deliveries (`digests.keep_days`): a background task deletes the deliveries of
//! runs that finished more than `keep_days` ago, [`BATCH`] per transaction with a short pause
//! between, so that neither the writer nor the claims ever wait long behind it. The runs stay,
//! with their figures. Web copies of digests outlive their deliveries: they go once their run
//! finished more than `copy_keep_days` ago.
//!
//! Every process runs it: once soon after start, then about hourly, at jittered instants of
//! the app's clock, so that processes started together do not purge together. Two processes
//! purging at once take different deliveries (see `Store::purge_deliveries`).

use std::time::Duration;

use rand::Rng;
use tokio::task::JoinSet;

use crate::{AppState, clock::to_ms};

/// Deliveries deleted per transaction.
pub const BATCH: i64 = 1000;

/// Time between two passes (plus up to [`SPREAD`]).
pub const EVERY: chrono::Duration = chrono::Duration::hours(1);

/// Largest random addition to a pass's instant, and to the first one after start.
pub const SPREAD: chrono::Duration = chrono::Duration::minutes(5);

/// Pause between two batches of a pass.
const PAUSE: Duration = Duration::from_millis(50);

/// Starts the retention task, unless deliveries and web copies are kept forever
/// (`keep_days = 0`, `copy_keep_days = 0`).
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    let digests = &state.config.digests;
    if digests.keep_days > 0 || digests.copy_keep_days > 0 {
        tasks.spawn(run(state.clone()));
    }
}

/// A random duration in `(0, SPREAD]`.
fn jitter() -> chrono::Duration {
    let ms = SPREAD.num_milliseconds();
    chrono::Duration::milliseconds(rand::thread_rng().gen_range(1..=ms))
}

async fn run(state: AppState) {
    let mut next = state.clock.now() + chrono::Duration::seconds(1) + jitter();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = state.clock.sleep_until(next) => {}
        }
        match pass(&state).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(
                deleted,
                keep_days = state.config.digests.keep_days,
                "old deliveries deleted"
            ),
            Err(e) => {
                tracing::warn!(error = ?e, "cannot delete old deliveries; trying again later")
            }
        }
        next = state.clock.now() + EVERY + jitter();
    }
}

/// One pass: deletes the deliveries of every run that finished more than `keep_days` ago, then
/// the web copies of those that finished more than `copy_keep_days` ago, batch by batch; how
/// many deliveries it deleted. Stops early on shutdown.
pub async fn pass(state: &AppState) -> anyhow::Result<u64> {
    let total = purge_deliveries(state).await?;
    let copies = purge_copies(state).await?;
    if copies > 0 {
        tracing::info!(
            copies,
            copy_keep_days = state.config.digests.copy_keep_days,
            "old web copies deleted"
        );
    }
    Ok(total)
}

async fn purge_deliveries(state: &AppState) -> anyhow::Result<u64> {
    let days = state.config.digests.keep_days;
    if days == 0 {
        return Ok(0);
    }
    let keep = chrono::Duration::days(i64::from(days));
    let mut from = None;
    let mut total = 0;
    while !state.shutdown.is_cancelled() {
        let now = state.clock.now();
        let batch = state
            .store
            .purge_deliveries(to_ms(now - keep), to_ms(now), from, BATCH)
            .await?;
        let Some(batch) = batch else { break };
        total += batch.deleted;
        if batch.deleted == 0 && batch.next.is_some() {
            // What is left is held by another transaction: the next pass takes it.
            break;
        }
        from = batch.next;
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = tokio::time::sleep(PAUSE) => {}
        }
    }
    state.store.deliveries_purged(total);
    Ok(total)
}

async fn purge_copies(state: &AppState) -> anyhow::Result<u64> {
    let days = state.config.digests.copy_keep_days;
    if days == 0 {
        return Ok(0);
    }
    let keep = chrono::Duration::days(i64::from(days));
    let mut total = 0;
    while !state.shutdown.is_cancelled() {
        let cutoff = to_ms(state.clock.now() - keep);
        let gone = state.store.purge_digest_copies(cutoff, BATCH).await?;
        if gone == 0 {
            break;
        }
        total += gone;
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = tokio::time::sleep(PAUSE) => {}
        }
    }
    Ok(total)
}
