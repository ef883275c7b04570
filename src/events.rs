//! In-process change notifications: feeds and digests subscribe, ingest publishes.

use tokio::sync::broadcast;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Articles of these sections changed (or became visible).
    Sections(Vec<String>),
    /// Anything may have changed (e.g. after missing notifications): rebuild everything.
    All,
}

/// A bounded broadcast channel; a receiver that falls behind gets `Lagged` and must treat it as
/// [`Change::All`].
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Change>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// A channel holding up to 1,024 undelivered changes per receiver.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx }
    }

    /// Tells every current subscriber; nobody listening is fine.
    pub fn publish(&self, change: Change) {
        let _ = self.tx.send(change);
    }

    /// A receiver of every change published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}
