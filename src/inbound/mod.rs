//! Mail that comes back (SPEC §10): delivery status notifications, complaint reports and
//! mailto unsubscribes, received by the built-in SMTP receiver ([`receiver`]) or fetched from
//! a hosted mailbox by the IMAP poller ([`imap`]), and acted on by one processor.

pub mod addresses;
pub mod imap;
mod parse;
mod phrases;
mod process;
pub mod receiver;
mod target;

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

/// Starts what `[inbound]` configures (the SMTP receiver on `listener`, the IMAP poller),
/// and the hourly clean-up of kept mail.
pub fn spawn(state: &AppState, listener: Option<tokio::net::TcpListener>, tasks: &mut JoinSet<()>) {
    let config = &state.config.inbound;
    if !config.enabled() {
        return;
    }
    let sink: std::sync::Arc<dyn Sink> = std::sync::Arc::new(state.inbound.clone());
    if let Some(listener) = listener {
        let mut limits = receiver::Limits::from_config(config);
        limits.hostname = state.inbound.domain().to_owned();
        limits.clock = state.clock.clone();
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "inbound mail receiver listening");
        }
        tasks.spawn(receiver::serve(
            listener,
            sink.clone(),
            limits,
            state.shutdown.clone(),
        ));
    }
    if config.imap_url.is_some() {
        let (config, sink, shutdown) = (config.clone(), sink.clone(), state.shutdown.clone());
        tasks.spawn(async move { imap::run(&config, sink, shutdown).await });
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
