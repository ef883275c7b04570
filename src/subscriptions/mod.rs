//! Subscriptions (SPEC §5): double opt-in, manage and one-click unsubscribe pages and JSON.
//!
//! Every handler here is reachable by strangers: each reads a bounded body, answers bad
//! input with a 4xx in the visitor's language, changes nothing on GET, and sends mail only
//! through the rate limits and the bounded [`outbox`].

pub mod choices;
mod confirm;
mod deferred;
mod held;
pub mod import;
pub mod import_cli;
mod input;
mod limits;
mod link_token;
pub mod links;
mod manage;
pub mod outbox;
mod pages;
mod resubscribe;
mod state;
mod subscribe;
pub mod token;
mod unsubscribe;

use std::time::Duration;

use axum::{Router, routing::get};
use tokio::task::JoinSet;

use crate::{AppState, clock::to_ms};

pub use input::{choose_locale, supported};
pub use limits::RESEND_INTERVAL_MS;
pub use pages::base_context;
pub use state::{PageState, Subscriptions};
pub use token::CONFIRM_TTL_MS;

/// Expired confirmation tokens are kept this long (the link then still says "expired" and
/// offers a new mail rather than "unknown"), and pending sign-ups as long after their last mail.
const KEEP_STALE_MS: i64 = 30 * 24 * 3_600_000;
/// A pause after a failed clean-up before the next hourly wait: should the clock have jumped
/// (the next hour already past), a failing database is not asked again at once.
const CLEANUP_PAUSE: Duration = Duration::from_secs(60);

/// Routes of the public subscription pages; their handlers take [`PageState`] from the app's
/// state.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribe", get(subscribe::form).post(subscribe::submit))
        .route(
            "/subscriptions/confirm",
            get(confirm::show).post(confirm::activate),
        )
        .route(
            "/subscriptions/resend",
            axum::routing::post(confirm::resend),
        )
        .route(subscribe::SENT_PATH, get(subscribe::sent))
        .route(
            "/subscriptions/resubscribe",
            get(resubscribe::show).post(resubscribe::submit),
        )
        .route(
            "/subscriptions/manage",
            get(manage::show).post(manage::submit),
        )
        .route(
            "/unsubscribe",
            get(unsubscribe::show).post(unsubscribe::submit),
        )
}

/// Starts the confirmation-mail worker, the worker of held-back sign-ups, and the hourly
/// clean-up of stale tokens and sign-ups.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    outbox::spawn(state, tasks);
    deferred::spawn(state, tasks);
    let state = state.clone();
    tasks.spawn(async move {
        loop {
            let next = state.clock.now() + chrono::Duration::hours(1);
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = state.clock.sleep_until(next) => {}
            }
            let cutoff = to_ms(state.clock.now()) - KEEP_STALE_MS;
            match state.store.purge_stale_subscriptions(cutoff, cutoff).await {
                Ok((tokens, pending)) if tokens + pending > 0 => {
                    tracing::info!(
                        tokens,
                        pending,
                        "removed stale confirmation tokens and sign-ups"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = ?e, "clean-up of stale subscriptions failed");
                    tokio::select! {
                        _ = state.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(CLEANUP_PAUSE) => {}
                    }
                }
            }
        }
    });
}
