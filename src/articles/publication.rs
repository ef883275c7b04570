//! Scheduled publication: when an article's `published_at` arrives, its sections change
//! by themselves, without any request.

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::Clock,
    events::{Change, Events},
    store::Store,
};

/// How long to wait before asking again when the database could not say when the next
/// article is due: a scheduled article then appears at most this late after an outage ends,
/// and a database in trouble is asked once per interval rather than in a loop.
const READ_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits for each upcoming publication instant and announces the sections it reveals.
pub async fn run(store: Store, events: Events, clock: Clock, shutdown: CancellationToken) {
    let mut changes = events.subscribe();
    let mut checked_until: DateTime<Utc> = clock.now();
    loop {
        let next = match store.next_publication_after(checked_until).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot read the next publication time");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(READ_RETRY) => continue,
                }
            }
        };
        let wait = async {
            match next {
                Some(t) => clock.sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            // A new or moved article may be scheduled earlier than `next`: look again.
            _ = changes.recv() => continue,
            _ = wait => {}
        }
        let now = clock.now();
        match store.sections_published_between(checked_until, now).await {
            Ok(sections) if !sections.is_empty() => {
                tracing::info!(?sections, "scheduled articles are now published");
                // Every replica runs this loop on its own clock: no need to tell the others.
                events.publish_local(Change::Sections(sections));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "cannot read newly published sections"),
        }
        checked_until = now;
    }
}
