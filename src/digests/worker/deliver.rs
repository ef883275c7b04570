//! One send: the gated SMTP exchange (intent once the rate limit lets it go, lease checked
//! before the final "."), what its result means for the ledger, and the outcome handed over.
//!
//! A send held back by its recipient domain's limit ([`SendError::Deferred`]) goes back to
//! the queue for the time its domain's turn should come: no attempt spent, the relay breaker
//! untouched (the relay is fine), so that mail to other domains goes on at full speed.

use super::{
    Shared, backoff,
    lease::{Lease, SendGate},
};
use crate::{
    clock::to_ms,
    digests::compose::Composed,
    mail::SendError,
    store::{Claim, IntentAnswer, Outcome},
};

/// Sends one delivery: intent, gated send, outcome.
pub(super) async fn deliver(
    shared: &Shared,
    lease: &Lease,
    claim: Claim,
    composed: Composed,
    schedule: String,
    cutoff: i64,
) {
    let state = &shared.state;
    let owner = lease.owner.as_str();
    let gate = SendGate {
        lease,
        recorder: &shared.recorder,
        delivery: claim.id,
        shutdown: &state.shutdown,
        answer: Default::default(),
        written: false.into(),
    };
    // On shutdown a send whose message is not written yet is called off at once (dropping it
    // drops its connection before the final "."; nothing is delivered); one whose message is
    // written waits for its reply until the hard stop.
    let send = shared.composer.send_gated(&composed.email, &gate);
    tokio::pin!(send);
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            r = &mut send => break r,
            _ = state.shutdown.cancelled(), if !stopping => {
                if !gate.written() {
                    break Err(SendError::NotSent);
                }
                stopping = true;
            }
            _ = shared.hard_stop.cancelled() => break Err(SendError::NotSent),
        }
    };
    let written = gate.written();
    match gate.answer() {
        Some(IntentAnswer::Inactive) => return, // recorded as skipped with the intent
        Some(IntentAnswer::Lost) => {
            tracing::warn!(
                run = claim.run_id,
                delivery = claim.id,
                owner,
                "lease lost before sending; another worker holds this delivery"
            );
            return;
        }
        _ => {}
    }
    let outcome = match result {
        Ok(()) => {
            shared.breaker.success();
            Outcome::Sent {
                claim,
                message_id: composed.message_id,
                schedule,
                cutoff,
            }
        }
        Err(SendError::NotSent) if written => Outcome::Uncertain {
            claim,
            error: "the process stopped before the reply to the final \".\"".into(),
        },
        Err(SendError::NotSent) => {
            if !state.shutdown.is_cancelled() {
                tracing::warn!(
                    run = claim.run_id,
                    delivery = claim.id,
                    owner,
                    "lease lost during the send; the message was not written"
                );
            }
            Outcome::GiveBack {
                claim,
                error: None,
                retry_at: None,
            }
        }
        Err(SendError::RelayDown(why)) => {
            let retry_at = shared.breaker.trip(&why);
            Outcome::GiveBack {
                claim,
                error: Some(format!("mail relay unavailable: {why}")),
                retry_at: Some(retry_at),
            }
        }
        Err(e @ SendError::Deferred { .. }) => Outcome::GiveBack {
            retry_at: Some(to_ms(state.clock.now() + held_for(&e))),
            error: Some(e.to_string()),
            claim,
        },
        Err(SendError::Uncertain(why)) => {
            shared.breaker.success();
            Outcome::Uncertain { claim, error: why }
        }
        Err(e @ SendError::Permanent { .. }) => {
            shared.breaker.success();
            Outcome::Permanent {
                claim,
                error: e.to_string(),
            }
        }
        // Transient, and also an invalid message: retried, then failed.
        Err(e) => {
            let retry_at = to_ms(state.clock.now() + backoff(claim.attempts + 1));
            Outcome::Transient {
                claim,
                error: e.to_string(),
                retry_at,
            }
        }
    };
    shared.recorder.report(owner, outcome).await;
}

/// How long a send held back by its domain waits for its turn (at most a day).
fn held_for(e: &SendError) -> chrono::Duration {
    match e {
        SendError::Deferred { retry_after, .. } => chrono::Duration::from_std(*retry_after)
            .unwrap_or(chrono::Duration::MAX)
            .min(chrono::Duration::days(1)),
        _ => chrono::Duration::zero(),
    }
}
