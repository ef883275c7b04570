//! Digests (SPEC §6): schedules, runs, the delivery ledger and its workers.

pub mod cli;
pub mod compose;
pub mod fire;
pub mod render;
pub mod scheduler;
pub mod selection;
pub mod worker;

use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinSet;

use crate::{AppState, config::Config, mail::Mailer, store::Store};

/// Compiles the digest templates and fetches the link secret; fails start-up when a template
/// is missing or broken.
pub async fn composer(
    config: &Config,
    store: &Store,
    mailer: Mailer,
) -> anyhow::Result<compose::Composer> {
    let renderer =
        render::DigestRenderer::load(&config.site.templates_dir, config.site_timezone().0)
            .context("digest templates")?;
    Ok(compose::Composer {
        renderer,
        mailer,
        site_title: config.site.title.clone(),
        base_url: config.site.base_url.trim_end_matches('/').to_owned(),
        link_secret: Arc::new(store.secret("link-tokens").await?),
    })
}

/// Starts the scheduler and the delivery loops.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    tasks.spawn(scheduler::run(
        state.scheduler.clone(),
        state.shutdown.clone(),
    ));
    let first = worker::Worker::new(state.clone(), state.composer.clone());
    for _ in 1..worker::LOOPS {
        tasks.spawn(worker::run(
            first.sibling(),
            state.digest_wakeup.clone(),
            state.shutdown.clone(),
        ));
    }
    tasks.spawn(worker::run(
        first,
        state.digest_wakeup.clone(),
        state.shutdown.clone(),
    ));
}

/// What a subscriber would get from a schedule if it fired now.
#[derive(Debug)]
pub enum Preview {
    /// The HTML of the digest they would be mailed.
    Mail(String),
    /// They would be mailed nothing, for this reason.
    Skipped(selection::Skip),
}

/// What `subscriber_id` would get from `schedule` if it fired now: the same selection as a
/// run's, at the same instant, without writing anything.
pub async fn preview(
    state: &AppState,
    schedule: &crate::domain::Schedule,
    subscriber_id: i64,
) -> anyhow::Result<Preview> {
    let store = &state.store;
    let now = crate::clock::to_ms(state.clock.now());
    let r = store
        .recipients(&[subscriber_id])
        .await?
        .pop()
        .context("subscriber vanished")?;
    let watermark = store
        .watermarks(&schedule.slug, &[r.id])
        .await?
        .get(&r.id)
        .copied();
    let reader = selection::Reader::of(&r, watermark);
    // A run made now would have this cutoff, and be prepared at this instant.
    let at = selection::Moment { cutoff: now, now };
    let candidates = match selection::window(&reader, schedule, at) {
        Some(w) => w.candidates(store).await?,
        None => Vec::new(),
    };
    let sections = store.list_sections().await?;
    let picked = match selection::decide(&reader, schedule, at, &sections, &candidates) {
        selection::Decision::Send(p) => p,
        selection::Decision::Skip(why) => return Ok(Preview::Skipped(why)),
    };
    let run = crate::store::RunInfo {
        id: 0,
        schedule: schedule.slug.clone(),
        cutoff: now,
        fire_at: None,
    };
    let composed =
        state
            .composer
            .compose(&sections, &r, &run, schedule, &picked, state.clock.now())?;
    Ok(Preview::Mail(composed.email.html.unwrap_or_default()))
}
