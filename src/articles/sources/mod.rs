//! Article sources besides the publisher API (SPEC §3): directory, web pages, feeds.

use tokio::task::JoinSet;

use crate::AppState;

/// Starts every configured source.
pub fn spawn(_state: &AppState, _tasks: &mut JoinSet<()>) {}
