//! Public feeds (SPEC §4): RSS 2.0, Atom 1.0 and JSON Feed per section, served from a cache.

use axum::Router;
use tokio::task::JoinSet;

use crate::AppState;

/// Routes of the public feeds.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// Starts the feed cache's background work.
pub fn spawn(_state: &AppState, _tasks: &mut JoinSet<()>) {}
