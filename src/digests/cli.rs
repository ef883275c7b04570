//! `tidings digest run SCHEDULE [--dry-run]`: a run now, in the foreground; and the table of
//! `tidings schedules list`.

use std::{collections::HashMap, sync::Arc};

use anyhow::Context;

use super::{
    selection::{self, Decision, Moment, Reader, Window},
    worker::Worker,
};
use crate::{AppState, articles::Article, clock::to_ms, domain::RunStatus, store::Recipient};

/// Candidate lists a dry run keeps for subscribers who share a window.
const WINDOWS_KEPT: usize = 64;

/// Subscribers a dry run reads per query: memory stays flat however many there are.
const DRY_RUN_PAGE: u32 = 1000;
/// How often `digest run` looks again when only retries waiting for their backoff remain.
const RETRY_POLL: std::time::Duration = std::time::Duration::from_secs(1);

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

/// Decides what a run of `slug` would do now for each active subscriber, as a run would,
/// writing nothing; `each` sees every subscriber with their decision.
pub async fn dry_run(
    state: &AppState,
    slug: &str,
    mut each: impl FnMut(&Recipient, &Decision),
) -> anyhow::Result<DryRun> {
    let store = &state.store;
    let schedule = store
        .get_schedule(slug)
        .await?
        .with_context(|| format!("no schedule {slug:?}"))?;
    let now = to_ms(state.clock.now());
    // A run made now would have this cutoff, and be prepared at this instant.
    let at = Moment { cutoff: now, now };
    let sections = store.list_sections().await?;
    let mut report = DryRun::default();
    let mut cache: HashMap<Window, Vec<Article>> = HashMap::new();
    let mut after_id = 0;
    loop {
        let page = store
            .active_subscribers_of_schedule(slug, after_id, DRY_RUN_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after_id = last.id;
        let ids: Vec<i64> = page.iter().map(|s| s.id).collect();
        let watermarks = store.watermarks(slug, &ids).await?;
        for r in store.recipients(&ids).await? {
            let reader = Reader::of(&r, watermarks.get(&r.id).copied());
            let window = selection::window(&reader, &schedule, at);
            if let Some(w) = &window {
                if !cache.contains_key(w) {
                    // Bounded: subscribers who never got a digest each have their own window.
                    if cache.len() >= WINDOWS_KEPT {
                        cache.clear();
                    }
                    let a = w.candidates(store).await?;
                    cache.insert(w.clone(), a);
                }
            }
            let candidates = window.as_ref().map_or(&[][..], |w| &cache[w]);
            let decision = selection::decide(&reader, &schedule, at, &sections, candidates);
            report.subscribers += 1;
            match decision {
                Decision::Send(_) => report.would_send += 1,
                Decision::Skip(_) => report.would_skip += 1,
            }
            each(&r, &decision);
        }
    }
    Ok(report)
}

/// Creates a manual run of `slug` and delivers it to the end; returns the run id.
pub async fn run(state: &AppState, slug: &str) -> anyhow::Result<i64> {
    if state.store.get_schedule(slug).await?.is_none() {
        anyhow::bail!("no schedule {slug:?}");
    }
    let id = state.digests.scheduler.run_now(slug).await?;
    let worker = Worker::new(state.clone(), Arc::clone(&state.digests.composer));
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
            tokio::time::sleep(RETRY_POLL).await;
        }
    }
}

/// The table `tidings schedules list` prints: each schedule with its kind, when it mails
/// (cron or window), its zone, its next fire instant (an instant schedule's, when something
/// waits for it) and its names.
pub async fn schedules_table(
    store: &crate::store::Store,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    use super::fire::fire_instants;
    use crate::domain::{CronSpec, TimeZone};
    use std::fmt::Write;
    let texts = store.schedule_texts().await?;
    let mut out = format!(
        "{:<12} {:<8} {:<8} {:<16} {:<20} {:<26} NAME\n",
        "SLUG", "KIND", "ENABLED", "CRON/WINDOW", "TIMEZONE", "NEXT"
    );
    for s in store.list_schedules().await? {
        let tz = TimeZone::parse(&s.timezone).map_err(anyhow::Error::msg)?;
        let (when, next) = match s.window() {
            Some(w) => (
                w.as_text(),
                super::instant::pending_fire(store, &s, to_ms(now)).await?,
            ),
            None => (
                s.cron.clone(),
                CronSpec::parse(&s.cron).ok().and_then(|c| {
                    fire_instants(&c, tz.0, now, now + chrono::Duration::days(400))
                        .first()
                        .copied()
                }),
            ),
        };
        let next = next
            .map(|t| t.with_timezone(&tz.0).to_rfc3339())
            .unwrap_or_else(|| "-".into());
        let mut name = s.name.clone();
        for (locale, other) in texts.get(&s.slug).into_iter().flatten() {
            let _ = write!(name, " / {locale}: {other}");
        }
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:<8} {:<16} {:<20} {:<26} {name}",
            s.slug,
            s.kind.as_str(),
            s.enabled,
            when,
            s.timezone,
            next
        );
    }
    Ok(out)
}
