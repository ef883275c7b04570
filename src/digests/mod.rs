//! Digests (SPEC §6): schedules, runs, the delivery ledger and its workers.

pub mod compose;
pub mod fire;
pub mod render;
pub mod scheduler;
pub mod throttle;
pub mod worker;

use tokio::task::JoinSet;

use crate::AppState;

/// Starts the scheduler and delivery workers.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    tasks.spawn(scheduler::run(
        state.scheduler.clone(),
        state.shutdown.clone(),
    ));
}
