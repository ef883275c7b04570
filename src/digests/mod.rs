//! Digests (SPEC §6): schedules, runs, the delivery ledger and its workers.

pub mod cli;
pub mod compose;
pub mod fire;
pub mod render;
pub mod scheduler;
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

/// The HTML digest `subscriber_id` would get from `schedule` if it fired now.
pub async fn preview(
    state: &AppState,
    schedule: &crate::domain::Schedule,
    subscriber_id: i64,
) -> anyhow::Result<String> {
    let store = &state.store;
    let now = crate::clock::to_ms(state.clock.now());
    let r = store
        .recipients(&[subscriber_id])
        .await?
        .pop()
        .context("subscriber vanished")?;
    let after = store
        .watermarks(&schedule.slug, &[r.id])
        .await?
        .get(&r.id)
        .copied()
        .unwrap_or(r.since);
    let articles = store
        .digest_articles(
            r.sections.as_deref(),
            after,
            now,
            now,
            schedule.max_articles,
        )
        .await?;
    let sections = store.list_sections().await?;
    let run = crate::store::RunInfo {
        id: 0,
        schedule: schedule.slug.clone(),
        cutoff: now,
        fire_at: None,
    };
    let composed =
        state
            .composer
            .compose(&sections, &r, &run, schedule, &articles, state.clock.now())?;
    Ok(composed.email.html.unwrap_or_default())
}
