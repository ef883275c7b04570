//! File system events, debounced into batches: an editor's save (often several events, a
//! temporary file and a rename) becomes one batch shortly after the last event.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::Duration,
};

use notify::{
    EventKind, RecommendedWatcher, RecursiveMode, Watcher as _,
    event::{AccessKind, AccessMode},
};
use tokio::{sync::mpsc, time::Instant};

/// Quiet time after the last event before a batch is handed out.
const QUIET: Duration = Duration::from_millis(100);
/// Longest a batch waits under a steady stream of events; keeps changes visible within 1 s.
const MAX_WAIT: Duration = Duration::from_millis(400);
/// Events buffered between the notify thread and the source task.
const CHANNEL: usize = 1024;
/// Distinct paths in one batch before it turns into a full rescan.
const MAX_PATHS: usize = 4096;

/// What changed since the last batch.
#[derive(Debug)]
pub enum Batch {
    /// These paths were created, changed, renamed or removed.
    Paths(Vec<PathBuf>),
    /// Events were lost (queue overflow, watcher error): compare everything again.
    Rescan,
}

/// A recursive watch on one folder.
pub struct Watcher {
    _watcher: RecommendedWatcher,
    rx: mpsc::Receiver<Vec<PathBuf>>,
    lost: Arc<AtomicBool>,
}

impl Watcher {
    /// Starts watching `root` and everything below it.
    pub fn start(root: &Path) -> notify::Result<Self> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let lost = Arc::new(AtomicBool::new(false));
        let lost_in_handler = lost.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let paths = match res {
                    Ok(ev) if ev.need_rescan() => {
                        lost_in_handler.store(true, Relaxed);
                        Vec::new()
                    }
                    Ok(ev) if relevant(&ev.kind) => ev.paths,
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!("file watcher: {e}");
                        lost_in_handler.store(true, Relaxed);
                        Vec::new()
                    }
                };
                // Never block the notify thread: a full queue means "rescan everything".
                if tx.try_send(paths).is_err() {
                    lost_in_handler.store(true, Relaxed);
                }
            })?;
        watcher.watch(root, RecursiveMode::Recursive)?;
        Ok(Self {
            _watcher: watcher,
            rx,
            lost,
        })
    }

    /// Waits for the next batch; `None` once the watcher is gone.
    pub async fn next_batch(&mut self) -> Option<Batch> {
        let first = self.rx.recv().await?;
        let started = Instant::now();
        let mut paths: BTreeSet<PathBuf> = first.into_iter().collect();
        loop {
            let deadline = (Instant::now() + QUIET).min(started + MAX_WAIT);
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(more)) => paths.extend(more),
                Ok(None) | Err(_) => break,
            }
            if Instant::now() >= started + MAX_WAIT {
                break;
            }
        }
        if self.lost.swap(false, Relaxed) || paths.len() > MAX_PATHS {
            // Drain what is queued: the rescan covers it.
            while self.rx.try_recv().is_ok() {}
            return Some(Batch::Rescan);
        }
        Some(Batch::Paths(paths.into_iter().collect()))
    }
}

/// Whether an event can change what a file holds or where it is.
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}
