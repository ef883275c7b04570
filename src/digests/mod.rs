//! Digests (SPEC §6): schedules, runs, the delivery ledger and its workers.

pub mod fire;
pub mod render;
pub mod scheduler;

use tokio::task::JoinSet;

use crate::AppState;

/// Starts the scheduler and delivery workers.
pub fn spawn(_state: &AppState, _tasks: &mut JoinSet<()>) {}
