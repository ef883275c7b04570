//! Changes between replicas: each process sends what it publishes through PostgreSQL
//! `NOTIFY` and forwards what other processes send to its own subscribers.
//!
//! The listener connects before the caches are first built, so that no change committed in
//! between is missed; after a lost connection it re-announces [`Change::All`], because
//! notifications sent while it was away are gone.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::Duration,
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, postgres::PgListener};
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::{Change, Events, new_origin};

/// The `LISTEN`/`NOTIFY` channel.
pub const CHANNEL: &str = "tidings_changes";
/// Changes waiting to be sent; beyond this the next notification says "everything".
const OUTBOX: usize = 1024;
/// PostgreSQL refuses payloads of 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7_900;
/// The first wait after a failed notify or a lost listener: short, so that a single dropped
/// connection (which the pool replaces at once) delays changes by next to nothing.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between attempts while the database stays away: once it is back, the
/// replicas hear of changes again within this, without a busy loop meanwhile.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The sending side, installed in [`Events`] once connected.
pub(super) struct Outbox {
    tx: mpsc::Sender<Change>,
    overflowed: Arc<AtomicBool>,
}

impl Outbox {
    /// Queues `change` for the other replicas; never waits.
    pub(super) fn send(&self, change: Change) {
        if self.tx.try_send(change).is_err() {
            self.overflowed.store(true, Relaxed);
        }
    }
}

/// A connected listener and the outbox's receiving end, until [`Events::spawn_replication`]
/// runs them.
pub(super) struct Replication {
    pool: PgPool,
    listener: PgListener,
    outbox: mpsc::Receiver<Change>,
    overflowed: Arc<AtomicBool>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// The sending process, so that it ignores its own notifications.
    origin: String,
    /// Changed sections; absent means everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sections: Option<Vec<String>>,
}

impl Events {
    /// Starts listening on PostgreSQL and forwarding what this process publishes. Call it
    /// before building anything that [`Change`]s invalidate.
    pub async fn connect_replicas(&self, pool: &PgPool) -> anyhow::Result<()> {
        let listener = listen(pool).await?;
        let (tx, outbox) = mpsc::channel(OUTBOX);
        let overflowed = Arc::new(AtomicBool::new(false));
        let _ = self.outbox.set(Outbox {
            tx,
            overflowed: overflowed.clone(),
        });
        *self.replication.lock().expect("events lock") = Some(Replication {
            pool: pool.clone(),
            listener,
            outbox,
            overflowed,
        });
        Ok(())
    }

    /// Runs the sender and the listener started by [`connect_replicas`](Self::connect_replicas),
    /// or on SQLite the reader started by [`watch_external`](Self::watch_external).
    pub fn spawn_replication(&self, shutdown: &CancellationToken, tasks: &mut JoinSet<()>) {
        self.spawn_external(shutdown, tasks);
        let Some(r) = self.replication.lock().expect("events lock").take() else {
            return;
        };
        tasks.spawn(send_loop(
            r.pool.clone(),
            r.outbox,
            r.overflowed,
            self.origin.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(listen_loop(
            r.pool,
            r.listener,
            self.clone(),
            shutdown.clone(),
        ));
    }
}

/// Tells every listening replica, once, that `change` happened: for a process that does not
/// listen itself (`tidings import`). Its origin is fresh, so no replica takes it for its own.
pub async fn notify_once(pool: &PgPool, change: &Change) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(encode(&new_origin(), change))
        .execute(pool)
        .await
        .context("notify running servers")?;
    Ok(())
}

async fn listen(pool: &PgPool) -> anyhow::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool)
        .await
        .context("connect the change listener")?;
    listener
        .listen(CHANNEL)
        .await
        .context("LISTEN for changes")?;
    Ok(listener)
}

fn encode(origin: &str, change: &Change) -> String {
    let sections = match change {
        Change::Sections(s) => Some(s.clone()),
        Change::All => None,
    };
    let json = serde_json::to_string(&Payload {
        origin: origin.to_owned(),
        sections,
    })
    .expect("payload serialises");
    if json.len() < MAX_PAYLOAD {
        json
    } else {
        encode(origin, &Change::All)
    }
}

async fn send_loop(
    pool: PgPool,
    mut outbox: mpsc::Receiver<Change>,
    overflowed: Arc<AtomicBool>,
    origin: Arc<str>,
    shutdown: CancellationToken,
) {
    loop {
        let change = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = outbox.recv() => match c { Some(c) => c, None => return },
        };
        let change = if overflowed.swap(false, Relaxed) {
            Change::All
        } else {
            change
        };
        let payload = encode(&origin, &change);
        let mut backoff = Backoff::default();
        // Keep trying: another replica that never hears of a change serves a stale feed.
        while let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "cannot notify other replicas; retrying");
            if !backoff.wait(&shutdown).await {
                return;
            }
        }
    }
}

async fn listen_loop(
    pool: PgPool,
    mut listener: PgListener,
    events: Events,
    shutdown: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.try_recv() => r,
        };
        match received {
            Ok(Some(n)) => match serde_json::from_str::<Payload>(n.payload()) {
                Ok(p) if *p.origin == *events.origin => {}
                Ok(p) => events.publish_local(match p.sections {
                    Some(s) => Change::Sections(s),
                    None => Change::All,
                }),
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed change notification"),
            },
            // Reconnected: whatever was sent meanwhile is lost.
            Ok(None) => {
                tracing::warn!("change listener reconnected; rebuilding everything");
                events.publish_local(Change::All);
            }
            Err(e) => {
                tracing::warn!(error = %e, "change listener failed; reconnecting");
                let mut backoff = Backoff::default();
                listener = loop {
                    if !backoff.wait(&shutdown).await {
                        return;
                    }
                    match listen(&pool).await {
                        Ok(l) => break l,
                        Err(e) => {
                            tracing::warn!(error = ?e, "cannot reconnect the change listener")
                        }
                    }
                };
                events.publish_local(Change::All);
            }
        }
    }
}

/// Waits between attempts at something that must succeed in the end: [`FIRST_RETRY`],
/// doubling up to [`MAX_RETRY`].
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST_RETRY }
    }
}

impl Backoff {
    /// Sleeps for the next wait; `false` if shutdown came first.
    async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(self.next) => {}
        }
        self.next = (self.next * 2).min(MAX_RETRY);
        true
    }
}
