//! The scheduler: turns cron instants, and publications for instant schedules, into runs. The
//! database holds the truth (which instants have runs, how far each schedule was evaluated),
//! so any number of processes may tick.
//!
//! Digest schedules are evaluated every second; a run is created in a short transaction of its
//! own and planned a chunk at a time (see `planning`), so the other processes' schedulers
//! never wait for it, and each tick first resumes runs whose planner stopped.
//!
//! Instant schedules are evaluated when something changes (a publication here, a notification from another replica, a scheduled
//! article becoming visible), when a window they wait for ends, and at least every
//! [`INSTANT_SAFETY`] in case a notification was lost: not by asking the database every second.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::sync::{
    Notify,
    broadcast::error::{RecvError, TryRecvError},
};
use tokio_util::sync::CancellationToken;

use super::{fire::fire_instants, instant, planning::Planner};
use crate::{
    clock::{Clock, from_ms, to_ms},
    config::DigestsConfig,
    domain::{CronSpec, Schedule, ScheduleKind, TimeZone},
    events::Events,
    store::{PlanStep, Store},
};

/// Longest an instant schedule goes without an evaluation.
pub const INSTANT_SAFETY: Duration = Duration::from_secs(60);

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Runs this process created (and planned, or planned ahead of the senders with the rest
    /// going on in the background).
    pub started: Vec<i64>,
    /// Runs whose planner had stopped, taken over by this process.
    pub resumed: Vec<i64>,
    /// Fire instants recorded as missed (older than `digests.catch_up_hours`).
    pub missed: usize,
    /// The earliest instant an instant schedule waits for (the end of its window).
    pub next_instant: Option<DateTime<Utc>>,
}

/// Evaluates schedules against the clock.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    clock: Clock,
    catch_up: chrono::Duration,
    planner: Planner,
}

impl Scheduler {
    /// A scheduler with the configured catch-up window.
    pub fn new(store: Store, clock: Clock, catch_up_hours: u32) -> Self {
        Self {
            planner: Planner::with_defaults(store.clone(), clock.clone()),
            store,
            clock,
            catch_up: chrono::Duration::hours(i64::from(catch_up_hours)),
        }
    }

    /// Plans runs with the configured chunk size and lease (`digests.plan_chunk`,
    /// `digests.lease_seconds`), waking `wakeup` as each chunk commits; the planning going on
    /// in the background stops when `stop` fires.
    pub fn planning(
        mut self,
        digests: &DigestsConfig,
        wakeup: Arc<Notify>,
        stop: CancellationToken,
    ) -> Self {
        self.planner = Planner::new(
            self.store.clone(),
            self.clock.clone(),
            wakeup,
            i64::from(digests.plan_chunk),
            i64::from(digests.lease_seconds) * 1000,
        )
        .stopped_by(stop);
        self
    }

    /// Evaluates every schedule now: [`Scheduler::tick_digests`] and
    /// [`Scheduler::tick_instants`]. Safe to call from many processes at once.
    #[tracing::instrument(skip_all)]
    pub async fn tick(&self) -> anyhow::Result<TickReport> {
        let mut report = self.tick_digests().await?;
        let instants = self.tick_instants().await?;
        report.started.extend(instants.started);
        report.next_instant = instants.next_instant;
        Ok(report)
    }

    /// Creates a run for every cron instant due since each digest schedule was last evaluated,
    /// and plans it. Instants older than the catch-up window are recorded as missed instead.
    /// Each (schedule, instant) becomes exactly one run. First, runs whose planner stopped
    /// are planned to their end.
    pub async fn tick_digests(&self) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        match self.planner.resume().await {
            Ok(resumed) => report.resumed = resumed,
            Err(e) => tracing::error!(error = ?e, "resuming a stopped planning failed"),
        }
        let now = self.clock.now();
        for s in self.store.list_schedules().await? {
            if s.kind != ScheduleKind::Digest {
                continue;
            }
            if let Err(e) = self.tick_one(&s, now, &mut report).await {
                tracing::error!(schedule = %s.slug, error = ?e, "schedule evaluation failed");
            }
        }
        Ok(report)
    }

    /// Fires every instant schedule whose run is due (see [`instant`]); reports when the
    /// earliest of those still waiting is due.
    pub async fn tick_instants(&self) -> anyhow::Result<TickReport> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        for s in self.store.list_schedules().await? {
            if s.kind != ScheduleKind::Instant {
                continue;
            }
            match instant::evaluate(&self.store, &s, now).await {
                Ok(instant::Evaluated::Started(id)) => report.started.push(id),
                Ok(instant::Evaluated::DueAt(t)) => {
                    report.next_instant = Some(report.next_instant.map_or(t, |n| n.min(t)));
                }
                Ok(instant::Evaluated::Nothing) => {}
                Err(e) => {
                    tracing::error!(schedule = %s.slug, error = ?e, "instant schedule evaluation failed");
                }
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
                    .planner
                    .start(&s.slug, Some(to_ms(t)), to_ms(t))
                    .await?
                {
                    // The run exists for every process now; its chunks commit as they go.
                    tracing::info!(schedule = %s.slug, fire_at = %t, run = id, "digest run started");
                    report.started.push(id);
                    self.planner.plan(id).await?;
                }
            }
        }
        // Disabled schedules advance too, so enabling one later does not replay the past.
        self.store.advance_schedule_check(&s.slug, to_ms(now)).await
    }

    /// A run now, as if the schedule fired (`fire_at` null); returns its id once its first
    /// chunk is planned (and being sent). The rest is planned in the background, so that the
    /// request that asked for it is answered at once whatever the number of subscribers; if
    /// this process stops meanwhile, another resumes the planning once its lease runs out.
    pub async fn run_now(&self, slug: &str) -> anyhow::Result<i64> {
        let now = to_ms(self.clock.now());
        let id = self
            .planner
            .start(slug, None, now)
            .await?
            .ok_or_else(|| anyhow::anyhow!("manual run was not created"))?;
        if let PlanStep::Chunk { .. } = self.planner.step(id).await? {
            self.planner.plan_in_background(id);
        }
        Ok(id)
    }
}

/// Ticks digest schedules once a second (tokio-cron-scheduler is only the metronome) and
/// instant schedules when something changes or a window ends, until shutdown; wakes the
/// delivery loops when it starts a run.
pub async fn run(
    scheduler: Scheduler,
    events: Events,
    wakeup: Arc<Notify>,
    shutdown: CancellationToken,
) {
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
    let mut changes = events.subscribe();
    let mut listening = true;
    let clock = scheduler.clock.clone();
    // Instant schedules are evaluated at start (a run may have been due while down).
    let mut instant_due = Some(DateTime::<Utc>::MIN_UTC);
    let mut last_instant = std::time::Instant::now();
    let mut digests_due = true;
    loop {
        // Digest schedules on the metronome only: a burst of publications is no reason to
        // evaluate every cron again.
        if std::mem::take(&mut digests_due) {
            // A tick may plan a big run: shutdown stops it between two statements (the run
            // stays planning, and is resumed once its lease runs out).
            let ticked = tokio::select! {
                r = scheduler.tick_digests() => r,
                _ = shutdown.cancelled() => break,
            };
            match ticked {
                Ok(r) if !r.started.is_empty() || !r.resumed.is_empty() => wakeup.notify_waiters(),
                Ok(_) => {}
                Err(e) => tracing::error!(error = ?e, "scheduler tick failed"),
            }
        }
        if instant_due.is_some_and(|t| t <= clock.now()) || last_instant.elapsed() >= INSTANT_SAFETY
        {
            last_instant = std::time::Instant::now();
            instant_due = match scheduler.tick_instants().await {
                Ok(r) => {
                    if !r.started.is_empty() {
                        wakeup.notify_waiters();
                    }
                    r.next_instant
                }
                Err(e) => {
                    tracing::error!(error = ?e, "instant schedules' evaluation failed");
                    None // the safety interval tries again
                }
            };
        }
        let window_end = async {
            match instant_due {
                Some(t) => clock.sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = rx.recv(), if sched.is_some() => digests_due = true,
            _ = fallback.tick(), if sched.is_none() => digests_due = true,
            change = changes.recv(), if listening => match change {
                // Lagged: changes were missed; evaluating covers them all.
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    instant_due = Some(DateTime::<Utc>::MIN_UTC);
                    // One evaluation covers a whole burst (an import, a source's batch).
                    while matches!(changes.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
                }
                Err(RecvError::Closed) => listening = false,
            },
            _ = window_end => {}
        }
    }
    if let Some(s) = sched.as_mut() {
        let _ = s.shutdown().await;
    }
}
