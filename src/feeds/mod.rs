//! Public feeds (SPEC §4): RSS 2.0, Atom 1.0 and JSON Feed per section, served from a cache.
//!
//! Pure renderers (`rss`, `atom`, `json`, `opml`) turn a [`doc::FeedDoc`] into bytes; the
//! [`FeedCache`] keeps every document pre-rendered and compressed, and rebuilds the sections
//! a [`Change`] names; [`serve`] answers requests from it; `websub` tells the hub; `identity`
//! fixes, once per database, what every item's `tag:` id is made of. The front door
//! (`index`) is rendered per language from what each rebuild read.

mod atom;
mod cache;
mod conditional;
pub mod doc;
mod figure;
mod identity;
mod index;
mod index_view;
mod json;
mod opml;
pub mod render;
mod rendered;
mod rss;
mod serve;
mod site;
mod urls;
mod websub;
mod xml;

use axum::{Router, routing::get};
use tokio::{sync::broadcast::error::RecvError, task::JoinSet};

pub use cache::{FeedCache, Scope};
pub use rendered::{Encoding, Rendered};
pub use site::{Format, Site};

use crate::{AppState, events::Change};

/// The slug of the feed that merges every section.
pub const ALL: &str = "all";

/// The pause before a failed rebuild is tried again: short, because readers get the previous
/// feeds meanwhile; not shorter, so that a database that is down is not asked in a loop.
const REBUILD_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Routes of the public feeds, the OPML list and the index page.
pub fn router() -> Router<AppState> {
    let cached = || get(serve::cached).fallback(serve::method_not_allowed);
    Router::new()
        .route(
            "/",
            get(index::front_door).fallback(serve::method_not_allowed),
        )
        .route("/feeds.opml", cached())
        .route("/feeds/{file}", cached())
}

/// Starts the cache refresher (and the WebSub pinger when a hub is configured).
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    let Some(changes) = state.feeds.take_changes() else {
        return;
    };
    let publisher = state
        .feeds
        .site()
        .hub
        .clone()
        .map(|hub| websub::spawn(hub, state.clock.clone(), state.shutdown.clone(), tasks));
    tasks.spawn(refresh(state.clone(), changes, publisher));
}

/// Rebuilds what each change touched, coalescing changes that arrive while it works.
async fn refresh(
    state: AppState,
    mut changes: tokio::sync::broadcast::Receiver<Change>,
    publisher: Option<websub::Publisher>,
) {
    // Articles that became visible between the first build and now were announced to nobody.
    let mut scope = match state
        .store
        .sections_published_between(state.feeds.built_as_of(), state.clock.now())
        .await
    {
        Ok(sections) if sections.is_empty() => None,
        Ok(sections) => Some(Scope::Sections(sections.into_iter().collect())),
        Err(_) => Some(Scope::All),
    };
    loop {
        let mut current = match scope.take() {
            Some(s) => s,
            None => tokio::select! {
                _ = state.shutdown.cancelled() => return,
                received = changes.recv() => match received {
                    Ok(change) => Scope::from(change),
                    // Changes were lost: only a full rebuild is safe.
                    Err(RecvError::Lagged(_)) => Scope::All,
                    Err(RecvError::Closed) => return,
                },
            },
        };
        loop {
            match changes.try_recv() {
                Ok(change) => current.add(change),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => current = Scope::All,
                Err(_) => break,
            }
        }
        match state.feeds.rebuild(&current).await {
            Ok(topics) => {
                if let Some(p) = &publisher {
                    p.publish(topics);
                }
            }
            Err(e) => {
                tracing::warn!(error = ?e, "feed rebuild failed; serving the previous feeds and retrying");
                scope = Some(current);
                tokio::select! {
                    _ = state.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(REBUILD_RETRY) => {}
                }
            }
        }
    }
}
