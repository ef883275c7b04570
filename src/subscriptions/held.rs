//! Keeping a sign-up that the per-address limit (one mail per address per 10 minutes) held
//! back, for the worker in [`deferred`](super::deferred) to mail when the window ends.

use tokio::sync::Notify;

use super::limits::RESEND_INTERVAL_MS;
use crate::{domain::Preferences, store::Store};

/// Keeps the held-back sign-up of `email` for the end of its window (the newest request's
/// choices replace older ones) and wakes this process's worker to plan for it.
pub async fn defer(
    store: &Store,
    wake: &Notify,
    email: &str,
    prefs: &Preferences,
    now_ms: i64,
) -> anyhow::Result<()> {
    if store
        .defer_signup(email, prefs, now_ms, RESEND_INTERVAL_MS)
        .await?
    {
        tracing::info!("sign-up held back by the per-address limit; mailed when it ends");
        wake.notify_one();
    }
    Ok(())
}
