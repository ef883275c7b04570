//! `tidings digest run SCHEDULE [--dry-run]`: a run now, in the foreground.

use std::{collections::HashMap, sync::Arc};

use anyhow::Context;

use super::worker::Worker;
use crate::{AppState, clock::to_ms, domain::RunStatus};

/// What a dry run found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DryRun {
    /// Active subscribers of the schedule.
    pub subscribers: u64,
    /// Of those, how many would get a mail now.
    pub would_send: u64,
    /// And how many would be skipped (nothing new, and the schedule does not send empty ones).
    pub would_skip: u64,
}

/// Counts what a run of `slug` would do now, writing nothing.
pub async fn dry_run(state: &AppState, slug: &str) -> anyhow::Result<DryRun> {
    let store = &state.store;
    let schedule = store
        .get_schedule(slug)
        .await?
        .with_context(|| format!("no schedule {slug:?}"))?;
    let now = to_ms(state.clock.now());
    let mut report = DryRun::default();
    let mut counts: HashMap<(i64, Option<Vec<String>>), bool> = HashMap::new();
    let mut after_id = 0;
    loop {
        let page = store
            .active_subscribers_of_schedule(slug, after_id, 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after_id = last.id;
        let ids: Vec<i64> = page.iter().map(|s| s.id).collect();
        let watermarks = store.watermarks(slug, &ids).await?;
        for r in store.recipients(&ids).await? {
            let after = watermarks.get(&r.id).copied().unwrap_or(r.since);
            let key = (after, r.sections.clone());
            let has_news = match counts.get(&key) {
                Some(b) => *b,
                None => {
                    let b = !store
                        .digest_articles(r.sections.as_deref(), after, now, now, 1)
                        .await?
                        .is_empty();
                    counts.insert(key, b);
                    b
                }
            };
            report.subscribers += 1;
            if has_news || schedule.send_when_empty {
                report.would_send += 1;
            } else {
                report.would_skip += 1;
            }
        }
    }
    Ok(report)
}

/// Creates a manual run of `slug` and delivers it to the end; returns the run id.
pub async fn run(state: &AppState, slug: &str) -> anyhow::Result<i64> {
    if state.store.get_schedule(slug).await?.is_none() {
        anyhow::bail!("no schedule {slug:?}");
    }
    let id = state.scheduler.run_now(slug).await?;
    let worker = Worker::new(state.clone(), Arc::clone(&state.composer));
    loop {
        let handled = worker.process_batch().await?;
        let view = state.store.get_run(id).await?.context("run vanished")?;
        eprint!(
            "\rrun {id}: {} sent, {} skipped, {} deferred, {} failed, {} bounced, {} uncertain, {} pending   ",
            view.sent,
            view.skipped,
            view.deferred,
            view.failed,
            view.bounced,
            view.uncertain,
            view.pending
        );
        if view.is_finished() {
            eprintln!();
            if view.status != RunStatus::Done {
                eprintln!("run {id}: {}", view.status);
            }
            return Ok(id);
        }
        if handled == 0 {
            // Only retries remain, waiting for their backoff.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}
