//! Digests (SPEC §6): schedules, runs, the delivery ledger and its workers.

pub mod announcement;
pub mod cli;
pub mod compose;
pub mod copy_link;
pub use crate::domain::describe;
pub mod fire;
pub mod images;
pub mod instant;
pub mod letter;
pub mod plain;
pub mod planning;
pub mod render;
pub mod retention;
pub mod scheduler;
pub mod selection;
pub mod skip;
pub mod web_copy;
pub mod worker;

use crate::inbound::Addresses;
use std::sync::Arc;

use anyhow::Context;
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    AppState,
    branding::Branding,
    clock::{Clock, to_ms},
    config::Config,
    domain::Schedule,
    mail::Mailer,
    store::{RunInfo, Store},
};

/// Compiles the digest templates and fetches the link secret; fails start-up when a template
/// is missing or broken.
pub async fn composer(
    config: &Config,
    store: &Store,
    mailer: Mailer,
    branding: &Branding,
) -> anyhow::Result<compose::Composer> {
    let images = images::ImageSizes::new(&crate::articles::sources::user_agent(config));
    let renderer =
        render::DigestRenderer::load(&config.site.templates_dir, config.site_timezone().0, images)?;
    let link_secret = Arc::new(store.secret("link-tokens").await?);
    let base_url = config.site.base_url.trim_end_matches('/').to_owned();
    Ok(compose::Composer {
        renderer,
        mailer,
        branding: branding.clone(),
        home_url: config
            .site
            .home_url
            .clone()
            .unwrap_or_else(|| base_url.clone()),
        base_url,
        returns: compose::Returns {
            addresses: Addresses::new(config, link_secret.clone()),
            verp: config.mail.bounce_domain.is_some(),
            mailto: config.inbound.enabled(),
        },
        link_secret,
        list_domain: crate::mail::message::list_domain(config),
    })
}

/// The digest service as handlers and commands use it: start a run, preview a digest.
#[derive(Clone)]
pub struct Digests {
    store: Store,
    clock: Clock,
    /// `site.language`: whose names are the stored ones (see [`crate::domain::DisplayNames`]).
    language: String,
    /// Turns fire instants (and "run now") into runs.
    pub scheduler: scheduler::Scheduler,
    /// Woken when a run is created, so delivery loops need not wait for their next poll.
    pub wakeup: Arc<Notify>,
    /// Renders and sends digests.
    pub composer: Arc<compose::Composer>,
}

impl Digests {
    /// The service over `store`, with the configured catch-up window and templates.
    pub async fn new(
        config: &Config,
        store: &Store,
        clock: &Clock,
        mailer: Mailer,
        branding: &Branding,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let wakeup = Arc::new(Notify::new());
        Ok(Self {
            store: store.clone(),
            clock: clock.clone(),
            language: config.site.language.clone(),
            scheduler: scheduler::Scheduler::new(
                store.clone(),
                clock.clone(),
                config.digests.catch_up_hours,
            )
            .planning(&config.digests, wakeup.clone(), shutdown.clone()),
            wakeup,
            composer: Arc::new(composer(config, store, mailer, branding).await?),
        })
    }

    /// Starts a manual run of `slug` now and wakes the delivery loops; the run's id.
    pub async fn run_now(&self, slug: &str) -> anyhow::Result<i64> {
        let id = self.scheduler.run_now(slug).await?;
        self.wakeup.notify_waiters();
        Ok(id)
    }

    /// What `subscriber_id` would get from `schedule` if it fired now: the same selection as
    /// a run's, at the same instant, without writing anything.
    pub async fn preview(
        &self,
        schedule: &Schedule,
        subscriber_id: i64,
    ) -> anyhow::Result<Preview> {
        Ok(match self.compose_now(schedule, subscriber_id).await? {
            Ok(email) => Preview::Mail(email.html.unwrap_or_default()),
            Err(why) => Preview::Skipped(why),
        })
    }

    /// The mail `subscriber_id` would get from `schedule` if it fired now (or why they would
    /// get none), composed as a run would, writing nothing: previews and test sends.
    pub async fn compose_now(
        &self,
        schedule: &Schedule,
        subscriber_id: i64,
    ) -> anyhow::Result<Result<crate::mail::Email, selection::Skip>> {
        let store = &self.store;
        let now = to_ms(self.clock.now());
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
            selection::Decision::Skip(why) => return Ok(Err(why)),
        };
        let run = RunInfo {
            id: 0,
            schedule: schedule.slug.clone(),
            cutoff: now,
            fire_at: None,
        };
        let names = store.display_names(&self.language).await?;
        (self.composer).learn_picture_sizes(picked.articles()).await;
        let composed = self.composer.compose(&compose::Request {
            sections: &sections,
            names: &names,
            recipient: &r,
            run: &run,
            schedule,
            picked: &picked,
            when: self.clock.now(),
            delivery: None,
        })?;
        Ok(Ok(composed.email))
    }
}

/// Starts the scheduler and the delivery loops.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    let digests = &state.digests;
    tasks.spawn(scheduler::run(
        digests.scheduler.clone(),
        state.events.clone(),
        digests.wakeup.clone(),
        state.shutdown.clone(),
    ));
    let first = worker::Worker::new(state.clone(), digests.composer.clone());
    for _ in 1..worker::LOOPS {
        tasks.spawn(worker::run(
            first.sibling(),
            digests.wakeup.clone(),
            state.shutdown.clone(),
        ));
    }
    tasks.spawn(worker::run(
        first,
        digests.wakeup.clone(),
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
