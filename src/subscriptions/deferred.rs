//! Sign-ups the per-address limit (one mail per address per 10 minutes) held back are kept
//! in the database and mailed when the address's window ends, instead of being dropped: the
//! page said a mail is on its way, and it must be. A worker in every process claims the due
//! ones under a lease, so one mail goes out however many processes run, and one that a
//! crashed process held is taken over when its lease lapses.

use std::time::Duration;

use tokio::task::JoinSet;

use super::{limits::RESEND_INTERVAL_MS, outbox};
use crate::{
    AppState,
    clock::{from_ms, to_ms},
    domain::Email,
    store::DeferredSignup,
};

/// How long a claim lasts: longer than a mail with all its attempts (`outbox::RETRY_DELAYS`
/// plus three ordinary SMTP sessions). Should a relay stall longer still, the process taking
/// the claim over finds the address's window restarted by the first attempt, and waits it
/// out: at worst a second mail one window later, never two within one.
const LEASE_MS: i64 = 5 * 60_000;
/// Sign-ups claimed at once.
const BATCH: i64 = 16;
/// How often the database is asked anyway: other processes keep sign-ups this one was not
/// told about.
const POLL: chrono::Duration = chrono::Duration::seconds(30);
/// The pause after a failed database call.
const PAUSE: Duration = Duration::from_secs(5);

/// Starts the worker: it sleeps until the earliest kept sign-up is due (on the app's clock),
/// or until this process keeps a new one, or [`POLL`].
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    let state = state.clone();
    let owner = super::token::generate().hash;
    tasks.spawn(async move {
        loop {
            let now = state.clock.now();
            let claimed = state
                .store
                .claim_deferred_signups(to_ms(now), LEASE_MS, &owner, BATCH)
                .await;
            let claimed = match claimed {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = ?e, "cannot claim held-back sign-ups");
                    if pause(&state).await {
                        return;
                    }
                    continue;
                }
            };
            for d in &claimed {
                if state.shutdown.is_cancelled() {
                    return;
                }
                if let Err(e) = work(&state, &owner, d).await {
                    tracing::warn!(error = ?e, "held-back sign-up not handled; retried later");
                }
            }
            if claimed.len() as i64 == BATCH {
                continue;
            }
            let next = match state.store.next_deferred_signup_at().await {
                Ok(n) => n.map(from_ms),
                Err(e) => {
                    tracing::warn!(error = ?e, "cannot read held-back sign-ups");
                    None
                }
            };
            let until = next.map_or(now + POLL, |n| n.min(now + POLL));
            if until <= now && claimed.is_empty() {
                // Due, yet not ours to claim (another process got it first): not a busy loop.
                if pause(&state).await {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = state.clock.sleep_until(until) => {}
                _ = state.subscriptions.deferred.notified() => {}
            }
        }
    });
}

/// Waits [`PAUSE`]; `true` when shutting down instead.
async fn pause(state: &AppState) -> bool {
    tokio::select! {
        _ = state.shutdown.cancelled() => true,
        _ = tokio::time::sleep(PAUSE) => false,
    }
}

/// Records and mails one claimed sign-up, or gives it back for later.
async fn work(state: &AppState, owner: &str, d: &DeferredSignup) -> anyhow::Result<()> {
    let store = &state.store;
    let budget = &state.subscriptions.confirmations;
    let now = to_ms(state.clock.now());
    // The hourly budget of confirmation mails holds for these too.
    if let Err(wait_secs) = budget.take(store, now).await? {
        let due = now + i64::try_from(wait_secs).unwrap_or(3600) * 1000;
        return store
            .postpone_deferred_signup(d.subscriber_id, owner, due)
            .await;
    }
    let Ok(email) = Email::parse(&d.email) else {
        budget.give_back(store, now).await;
        return store.finish_deferred_signup(d, owner).await;
    };
    // The same transaction as a sign-up through the form: the address's state now decides
    // which mail (if any) goes, and the window is checked again, so a mail sent meanwhile
    // (by another process, or by a process that died before dropping this row) holds it
    // back once more rather than doubling it.
    let recorded = outbox::record(state, &email, &d.prefs).await;
    let recorded = match recorded {
        Ok(r) => r,
        Err(e) => {
            // Tried again by whichever process claims it when this claim lapses.
            budget.give_back(store, now).await;
            return Err(e);
        }
    };
    match recorded {
        Some(job) => {
            outbox::send(state, &job).await;
            store.finish_deferred_signup(d, owner).await
        }
        None => {
            let due = store
                .next_mail_allowed_at(d.subscriber_id, RESEND_INTERVAL_MS)
                .await?
                .unwrap_or(now + RESEND_INTERVAL_MS);
            store
                .postpone_deferred_signup(d.subscriber_id, owner, due)
                .await
        }
    }
}
