//! Mail that comes back (SPEC §10): delivery status notifications, complaint reports and
//! mailto unsubscribes, received by the built-in SMTP receiver ([`receiver`]) or fetched from
//! a hosted mailbox by the IMAP poller ([`imap`]), and acted on by one processor.

pub mod addresses;
pub mod imap;
mod parse;
mod phrases;
mod process;
pub mod receiver;

pub use addresses::Addresses;
pub use process::{Handled, Processor};

use std::{net::IpAddr, time::Duration};

use futures_util::future::BoxFuture;
use tokio::task::JoinSet;

use crate::{AppState, clock::to_ms};

/// How a message reached tidings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Smtp,
    Imap,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Smtp => "smtp",
            Via::Imap => "imap",
        }
    }
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Envelope recipients (SMTP `RCPT TO`), or for IMAP the addresses the mailbox saw it
    /// sent to (`Delivered-To`, `X-Original-To`, `To`); lower-cased, without angle brackets.
    pub recipients: Vec<String>,
    /// The whole message as received (RFC 5322, CRLF line ends, dot-unstuffed).
    pub raw: Vec<u8>,
    pub via: Via,
    /// The SMTP client's address (none for IMAP).
    pub peer: Option<IpAddr>,
}

/// Where received messages go: the processor in the service, a recorder in tests.
pub trait Sink: Send + Sync + 'static {
    /// Whether mail to `address` is for tidings: the receiver answers `RCPT TO` with 250 when
    /// it is, 550 otherwise (no relay, no backscatter for addresses that are not ours).
    fn accepts(&self, address: &str) -> bool;

    /// Takes one message. `Ok` once it is acted on or kept (the receiver answers 250 and the
    /// poller deletes it from the mailbox); `Err` = try again later (451; left in the mailbox).
    fn deliver(&self, message: Inbound) -> BoxFuture<'_, anyhow::Result<()>>;
}

/// Starts what `[inbound]` configures, and the hourly clean-up of kept mail.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    if !state.config.inbound.enabled() {
        return;
    }
    let (store, clock, shutdown) = (
        state.store.clone(),
        state.clock.clone(),
        state.shutdown.clone(),
    );
    let days = i64::from(state.config.inbound.unrecognised_days);
    tasks.spawn(async move {
        loop {
            let before = to_ms(clock.now()) - days * 86_400_000;
            match store.prune_inbound(before).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(n, "kept mail older than inbound.unrecognised_days removed")
                }
                Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot prune kept mail"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
        }
    });
}
