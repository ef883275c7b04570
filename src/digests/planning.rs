//! The process's run planner: creates the runs the scheduler fires, plans their deliveries a
//! chunk at a time (see `store::planning`), wakes the delivery loops as each chunk commits so
//! that sending starts with the first one, and resumes the planning of runs whose planner
//! stopped (its lease ran out) from where it stopped.
//!
//! Planning keeps [`PLAN_AHEAD_CHUNKS`] chunks ahead of the senders, not more: once that many
//! deliveries of a run are queued, the rest is planned in the background, a chunk each time
//! the queue falls below it. Planned at once, a million deliveries took the two cores for half
//! a minute at the start of the run and slowed its first tenth by a quarter (issue 15: the
//! cost per delivery must be flat); paced, planning's cost is spread evenly over the run, the
//! senders never run dry, and the tick that fired the run is free again within a second.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, to_ms},
    store::{PLAN_CHUNK, PLAN_LEASE_MS, PlanLease, PlanStep, Store},
};

/// How many chunks of deliveries a run is planned ahead of its senders.
pub const PLAN_AHEAD_CHUNKS: i64 = 3;

/// How often a paced planner looks whether its run's queue has room for another chunk.
const PACE_POLL: Duration = Duration::from_millis(250);

/// Plans runs under this process's name; cheap to clone (clones plan under the same name).
#[derive(Clone)]
pub struct Planner {
    store: Store,
    clock: Clock,
    lease: PlanLease,
    chunk: i64,
    /// Queued deliveries of a run past which its planning waits for the senders.
    ahead: i64,
    wakeup: Arc<Notify>,
    /// Stops the planning going on in the background (the run stays planning; it is
    /// resumed once its lease runs out).
    stop: CancellationToken,
}

impl Planner {
    /// A planner of `chunk` subscribers per transaction (`digests.plan_chunk`), holding runs
    /// for `lease_ms` between chunks, that wakes `wakeup` when deliveries were planned.
    pub fn new(store: Store, clock: Clock, wakeup: Arc<Notify>, chunk: i64, lease_ms: i64) -> Self {
        let chunk = chunk.max(1);
        Self {
            store,
            clock,
            lease: PlanLease {
                owner: format!("plan-{}", super::worker::new_owner()),
                millis: lease_ms,
            },
            chunk,
            ahead: chunk.saturating_mul(PLAN_AHEAD_CHUNKS),
            wakeup,
            stop: CancellationToken::new(),
        }
    }

    /// Stops the background planning when `stop` fires (the process's shutdown).
    pub fn stopped_by(mut self, stop: CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    /// A planner with the store's defaults and a wake-up nobody waits on.
    pub fn with_defaults(store: Store, clock: Clock) -> Self {
        Self::new(
            store,
            clock,
            Arc::new(Notify::new()),
            PLAN_CHUNK,
            PLAN_LEASE_MS,
        )
    }

    /// The name this planner holds runs under.
    pub fn owner(&self) -> &str {
        &self.lease.owner
    }

    /// Creates the run of `(schedule, fire_at)` (a manual one when `None`) with nothing
    /// planned yet, held by this planner; `None` when it exists already.
    pub async fn start(
        &self,
        schedule: &str,
        fire_at: Option<i64>,
        cutoff: i64,
    ) -> anyhow::Result<Option<i64>> {
        let now = to_ms(self.clock.now());
        self.store
            .start_run(schedule, fire_at, cutoff, now, &self.lease)
            .await
    }

    /// Plans the next chunk of `run`; wakes the delivery loops when it planned deliveries.
    pub async fn step(&self, run: i64) -> anyhow::Result<PlanStep> {
        let now = to_ms(self.clock.now());
        let step = self
            .store
            .plan_chunk(run, &self.lease, now, self.chunk)
            .await?;
        if let PlanStep::Chunk { planned } | PlanStep::Finished { planned, .. } = step
            && planned > 0
        {
            self.wakeup.notify_waiters();
        }
        Ok(step)
    }

    /// Plans `run` until [`PLAN_AHEAD_CHUNKS`] chunks of it are queued, or to its end (or
    /// until another planner took it over); the rest, if any, is planned in the background,
    /// paced by the senders. Returns the last step planned here: `Chunk` when the rest went to
    /// the background.
    #[tracing::instrument(skip_all, fields(run))]
    pub async fn plan(&self, run: i64) -> anyhow::Result<PlanStep> {
        loop {
            match self.step(run).await? {
                step @ PlanStep::Chunk { .. } => {
                    if self.store.run_queued(run).await? >= self.ahead {
                        self.plan_in_background(run);
                        return Ok(step);
                    }
                }
                PlanStep::Lost => {
                    self.lost(run);
                    return Ok(PlanStep::Lost);
                }
                last => return Ok(last),
            }
        }
    }

    /// Plans the rest of `run` in the background, a chunk whenever fewer than
    /// [`PLAN_AHEAD_CHUNKS`] chunks of it are queued, renewing the lease while it waits. If it
    /// stops (shutdown, an error), the run stays planning and is resumed once its lease runs
    /// out, by this process or another.
    pub fn plan_in_background(&self, run: i64) {
        let planner = self.clone();
        tokio::spawn(async move {
            if let Err(e) = planner.paced(run).await {
                tracing::warn!(run, error = ?e,
                    "planning stopped; it is resumed once its lease runs out");
            }
        });
    }

    async fn paced(&self, run: i64) -> anyhow::Result<()> {
        loop {
            if !self.room(run).await? {
                return Ok(());
            }
            match self.step(run).await? {
                PlanStep::Chunk { .. } => {}
                PlanStep::Lost => {
                    self.lost(run);
                    return Ok(());
                }
                PlanStep::Finished { .. } => return Ok(()),
            }
        }
    }

    /// Waits until fewer than [`PLAN_AHEAD_CHUNKS`] chunks of `run` are queued, renewing the
    /// lease every quarter of it; false when the planning was stopped or lost meanwhile.
    async fn room(&self, run: i64) -> anyhow::Result<bool> {
        let mut renewed = to_ms(self.clock.now());
        loop {
            if self.store.run_queued(run).await? < self.ahead {
                return Ok(true);
            }
            tokio::select! {
                _ = self.stop.cancelled() => return Ok(false),
                _ = tokio::time::sleep(PACE_POLL) => {}
            }
            let now = to_ms(self.clock.now());
            if now - renewed >= self.lease.millis / 4 {
                if !self.store.renew_planning(run, &self.lease, now).await? {
                    self.lost(run);
                    return Ok(false);
                }
                renewed = now;
            }
        }
    }

    fn lost(&self, run: i64) {
        tracing::warn!(
            run,
            owner = self.owner(),
            "planning lease lost; the run is planned by the process that took it over"
        );
    }

    /// Takes over, one after the other, the runs whose planner stopped (their lease ran out)
    /// and plans each from its cursor (see [`Planner::plan`]); their ids.
    pub async fn resume(&self) -> anyhow::Result<Vec<i64>> {
        let mut resumed = Vec::new();
        while self
            .store
            .planning_abandoned(to_ms(self.clock.now()))
            .await?
        {
            let now = to_ms(self.clock.now());
            let Some(run) = self.store.take_over_planning(&self.lease, now).await? else {
                break; // another process took it first
            };
            tracing::warn!(
                run,
                owner = self.owner(),
                "resuming the planning of a run whose planner stopped"
            );
            resumed.push(run);
            self.plan(run).await?;
        }
        Ok(resumed)
    }
}
