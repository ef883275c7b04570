//! In-process change notifications: feeds and digests subscribe, ingest publishes.
//! On PostgreSQL, [`postgres`] carries them to every other replica too; [`external`] carries
//! those of `tidings import`, a process that does not serve, to the running servers.

pub mod external;
pub mod postgres;

use std::sync::{Arc, Mutex, OnceLock};

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
    /// Random id of this process, so that it ignores its own notifications.
    origin: Arc<str>,
    /// Where published changes go for other replicas, once connected.
    outbox: Arc<OnceLock<postgres::Outbox>>,
    /// The connected listener, until its task starts.
    replication: Arc<Mutex<Option<postgres::Replication>>>,
    /// On SQLite, the reader of changes recorded by other processes, until its task starts.
    external: Arc<Mutex<Option<external::Poller>>>,
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
        Self {
            tx,
            origin: new_origin().into(),
            outbox: Arc::default(),
            replication: Arc::default(),
            external: Arc::default(),
        }
    }

    /// Tells every current subscriber, here and (on PostgreSQL) in every other replica;
    /// nobody listening is fine.
    pub fn publish(&self, change: Change) {
        if let Some(outbox) = self.outbox.get() {
            outbox.send(change.clone());
        }
        let _ = self.tx.send(change);
    }

    /// Tells the subscribers of this process only (changes other replicas learn by
    /// themselves, or that came from them).
    pub fn publish_local(&self, change: Change) {
        let _ = self.tx.send(change);
    }

    /// A receiver of every change published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}

/// A random id for a process that publishes changes to others.
fn new_origin() -> String {
    use rand::Rng;
    format!("{:016x}", rand::thread_rng().r#gen::<u64>())
}
