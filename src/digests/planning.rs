//! The process's run planner: creates the runs the scheduler fires, plans their deliveries a
//! chunk at a time (see `store::planning`), wakes the delivery loops as each chunk commits so
//! that sending starts with the first one, and resumes the planning of runs whose planner
//! stopped (its lease ran out) from where it stopped.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::{
    clock::{Clock, to_ms},
    store::{PLAN_CHUNK, PLAN_LEASE_MS, PlanLease, PlanStep, Store},
};

/// Plans runs under this process's name; cheap to clone (clones plan under the same name).
#[derive(Clone)]
pub struct Planner {
    store: Store,
    clock: Clock,
    lease: PlanLease,
    chunk: i64,
    wakeup: Arc<Notify>,
}

impl Planner {
    /// A planner of `chunk` subscribers per transaction (`digests.plan_chunk`), holding runs
    /// for `lease_ms` between chunks, that wakes `wakeup` when deliveries were planned.
    pub fn new(store: Store, clock: Clock, wakeup: Arc<Notify>, chunk: i64, lease_ms: i64) -> Self {
        Self {
            store,
            clock,
            lease: PlanLease {
                owner: format!("plan-{}", super::worker::new_owner()),
                millis: lease_ms,
            },
            chunk: chunk.max(1),
            wakeup,
        }
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

    /// Plans `run` to its end (or until another planner took it over); the last step.
    #[tracing::instrument(skip_all, fields(run))]
    pub async fn plan(&self, run: i64) -> anyhow::Result<PlanStep> {
        loop {
            match self.step(run).await? {
                PlanStep::Chunk { .. } => {}
                PlanStep::Lost => {
                    tracing::warn!(
                        run,
                        owner = self.owner(),
                        "planning lease lost; the run is planned by the process that took it over"
                    );
                    return Ok(PlanStep::Lost);
                }
                last => return Ok(last),
            }
        }
    }

    /// Takes over, one after the other, the runs whose planner stopped (their lease ran out)
    /// and plans each to its end from its cursor; their ids.
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
