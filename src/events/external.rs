//! Changes made by a process that does not serve (`tidings import`), reaching the running
//! servers as an API publication does (issue 15): the importer [`announce`]s the sections
//! each committed batch changed, and every server publishes [`Change::Sections`] locally, so
//! that feeds, the front door and instant schedules react.
//!
//! PostgreSQL: one `NOTIFY` on the replicas' channel, which every server already listens to.
//! SQLite has no `NOTIFY`: the importer records the change in the database and the server
//! reads what is new every [`POLL`]; one indexed range read, of nothing most of the time.

use std::{collections::BTreeSet, time::Duration};

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Change, Events, postgres};
use crate::store::Store;

/// How often a SQLite server looks for recorded changes: a change is seen within this plus a
/// read, inside the second the contract allows.
const POLL: Duration = Duration::from_millis(500);
/// Most recorded changes read at once.
const READ_LIMIT: i64 = 256;
/// Attempts at announcing one change before giving up with a warning.
const ATTEMPTS: u32 = 3;

/// Tells the running servers that the articles of `sections` changed (a committed change of
/// this process, which does not serve). Failing only delays the servers' feeds until their
/// next change, so the caller goes on after a warning.
pub async fn announce(
    store: &Store,
    sections: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if sections.is_empty() {
        return Ok(());
    }
    let change = Change::Sections(sections.to_vec());
    let mut wait = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let sent = match store.pg_pool() {
            Some(pool) => postgres::notify_once(pool, &change).await,
            None => store.record_external_change(sections, now).await,
        };
        match sent {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= ATTEMPTS => return Err(e),
            Err(e) => tracing::warn!(error = ?e, "cannot announce a change; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
        attempt += 1;
    }
}

/// A SQLite server's reader of recorded changes, until its task starts.
pub(super) struct Poller {
    store: Store,
    /// The last change seen.
    after: i64,
}

impl Events {
    /// On SQLite, starts following the changes other processes record, from the last one
    /// recorded now: call it before building anything that [`Change`]s invalidate, as with
    /// [`connect_replicas`](Self::connect_replicas) on PostgreSQL. Nothing on PostgreSQL.
    pub async fn watch_external(&self, store: &Store) -> anyhow::Result<()> {
        if store.pg_pool().is_some() {
            return Ok(());
        }
        let after = store.last_external_change().await?;
        *self.external.lock().expect("events lock") = Some(Poller {
            store: store.clone(),
            after,
        });
        Ok(())
    }

    /// Runs the reader started by [`watch_external`](Self::watch_external), if any.
    pub(super) fn spawn_external(&self, shutdown: &CancellationToken, tasks: &mut JoinSet<()>) {
        if let Some(p) = self.external.lock().expect("events lock").take() {
            tasks.spawn(poll_loop(p, self.clone(), shutdown.clone()));
        }
    }
}

async fn poll_loop(mut p: Poller, events: Events, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let changes = match p.store.external_changes_after(p.after, READ_LIMIT).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot read changes recorded by other processes");
                continue;
            }
        };
        let Some(last) = changes.last().map(|c| c.seq) else {
            continue;
        };
        if changes[0].seq != p.after + 1 {
            // Pruned before this server read them (it was stalled for minutes).
            tracing::warn!(
                after = p.after,
                next = changes[0].seq,
                "missed changes recorded by other processes; rebuilding everything"
            );
            events.publish_local(Change::All);
        } else {
            let sections: BTreeSet<String> = changes.into_iter().flat_map(|c| c.sections).collect();
            tracing::info!(?sections, "articles changed by another process");
            events.publish_local(Change::Sections(sections.into_iter().collect()));
        }
        p.after = last;
    }
}
