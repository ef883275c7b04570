//! The scheduler: turns cron instants into runs. The database holds the truth (which instants
//! have runs, how far each schedule was evaluated), so any number of processes may tick.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::fire::fire_instants;
use crate::{
    clock::{Clock, from_ms, to_ms},
    domain::{CronSpec, Schedule, TimeZone},
    store::Store,
};

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Runs this process created (and planned).
    pub started: Vec<i64>,
    /// Fire instants recorded as missed (older than `digests.catch_up_hours`).
    pub missed: usize,
}

/// Evaluates schedules against the clock.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    clock: Clock,
    catch_up: chrono::Duration,
}

impl Scheduler {
    /// A scheduler with the configured catch-up window.
    pub fn new(store: Store, clock: Clock, catch_up_hours: u32) -> Self {
        Self {
            store,
            clock,
            catch_up: chrono::Duration::hours(i64::from(catch_up_hours)),
        }
    }

    /// Creates a run for every instant due since each schedule was last evaluated. Instants
    /// older than the catch-up window are recorded as missed instead. Safe to call from many
    /// processes at once: each (schedule, instant) becomes exactly one run.
    #[tracing::instrument(skip_all)]
    pub async fn tick(&self) -> anyhow::Result<TickReport> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        for s in self.store.list_schedules().await? {
            if let Err(e) = self.tick_one(&s, now, &mut report).await {
                tracing::error!(schedule = %s.slug, error = ?e, "schedule evaluation failed");
            }
        }
        Ok(report)
    }

    async fn tick_one(
        &self,
        s: &Schedule,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> anyhow::Result<()> {
        let from = from_ms(s.checked_until.unwrap_or(s.created_at));
        if s.enabled && from < now {
            let cron = CronSpec::parse(&s.cron).map_err(anyhow::Error::msg)?;
            let tz = TimeZone::parse(&s.timezone).map_err(anyhow::Error::msg)?;
            for t in fire_instants(&cron, tz.0, from, now) {
                if now - t > self.catch_up {
                    tracing::warn!(schedule = %s.slug, fire_at = %t, "fire instant missed while down; recorded as missed");
                    self.store
                        .record_missed_run(&s.slug, to_ms(t), to_ms(now))
                        .await?;
                    report.missed += 1;
                } else if let Some(id) = self
                    .store
                    .plan_run(&s.slug, Some(to_ms(t)), to_ms(t), to_ms(now))
                    .await?
                {
                    tracing::info!(schedule = %s.slug, fire_at = %t, run = id, "digest run started");
                    report.started.push(id);
                }
            }
        }
        // Disabled schedules advance too, so enabling one later does not replay the past.
        self.store.advance_schedule_check(&s.slug, to_ms(now)).await
    }

    /// A run now, as if the schedule fired (`fire_at` null); returns its id.
    pub async fn run_now(&self, slug: &str) -> anyhow::Result<i64> {
        let now = to_ms(self.clock.now());
        self.store
            .plan_run(slug, None, now, now)
            .await?
            .ok_or_else(|| anyhow::anyhow!("manual run was not created"))
    }
}

/// Ticks once a second (tokio-cron-scheduler is only the metronome) until shutdown.
pub async fn run(scheduler: Scheduler, shutdown: CancellationToken) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let ticker = async {
        let sched = tokio_cron_scheduler::JobScheduler::new().await?;
        let job = tokio_cron_scheduler::Job::new_async("* * * * * *", move |_, _| {
            let tx = tx.clone();
            // A full channel means a tick is already waiting: dropping this one is right.
            Box::pin(async move {
                let _ = tx.try_send(());
            })
        })?;
        sched.add(job).await?;
        sched.start().await?;
        anyhow::Ok(sched)
    };
    let mut sched = match ticker.await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = ?e, "cannot start the schedule ticker; falling back to an interval");
            None
        }
    };
    let mut fallback = tokio::time::interval(Duration::from_secs(1));
    loop {
        if let Err(e) = scheduler.tick().await {
            tracing::error!(error = ?e, "scheduler tick failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = rx.recv(), if sched.is_some() => {}
            _ = fallback.tick(), if sched.is_none() => {}
        }
    }
    if let Some(s) = sched.as_mut() {
        let _ = s.shutdown().await;
    }
}
