//! Subscriptions (SPEC §5): double opt-in, manage and one-click unsubscribe pages and JSON.

use axum::Router;
use tokio::task::JoinSet;

use crate::AppState;

/// Routes of the public subscription pages.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// Starts subscription background work (token clean-up and the like).
pub fn spawn(_state: &AppState, _tasks: &mut JoinSet<()>) {}
