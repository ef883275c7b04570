//! After each batch (and each idle poll): runs with nothing left queued are marked finished
//! and logged with their figures; about once a second per process the figure deltas are
//! folded into their runs and the queue-depth gauge is read. All of it reads the runs'
//! counters (migration 0211), never the deliveries.

use std::{
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use super::Worker;
use crate::clock::to_ms;

/// How often a process folds figure deltas and reads the queue depth.
const FIGURES_EVERY: Duration = Duration::from_secs(1);

impl Worker {
    pub(super) async fn finish_runs(&self) -> anyhow::Result<()> {
        let state = self.state();
        for (id, status) in state.store.finish_runs(to_ms(state.clock.now())).await? {
            match state.store.get_run(id).await? {
                Some(v) => tracing::info!(
                    run = id, schedule = %v.schedule, status = %status, total = v.total,
                    sent = v.sent, skipped = v.skipped, failed = v.failed, bounced = v.bounced,
                    uncertain = v.uncertain, "digest run done"
                ),
                None => tracing::info!(run = id, status = %status, "digest run done"),
            }
        }
        {
            let mut read = self.shared.figures_read.lock().expect("figures lock");
            if read.is_some_and(|t| t.elapsed() < FIGURES_EVERY) {
                return Ok(());
            }
            *read = Some(Instant::now());
        }
        state.store.fold_run_figures().await?;
        let depth = state.store.pending_deliveries().await?;
        state
            .metrics
            .delivery_queue_depth
            .store(depth.max(0) as u64, Relaxed);
        Ok(())
    }
}
