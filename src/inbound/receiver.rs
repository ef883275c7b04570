//! The built-in SMTP receiver (`[inbound] bind`, SPEC §10): takes the DSNs, ARF complaint
//! reports and mailto unsubscribes that the organisation's MX (or a forward) passes on, and
//! hands each message to a [`Sink`].
//!
//! It is a final destination, never a relay: `RCPT TO` is answered 250 only for addresses
//! the sink accepts (the bounce and unsubscribe addresses), 550 for every other address
//! whatever its domain. It offers neither STARTTLS nor AUTH: it is meant to listen on a
//! private port behind the organisation's MX, not on the internet's port 25.
//!
//! The SMTP state machine is mailin's ([`mailin::Session`]); the I/O is done here with tokio
//! so that nothing is unbounded: every read and write has the idle timeout (RFC 5321
//! §4.5.3.2), command lines are bounded, a message over `max_message_bytes` is read to its
//! end but dropped (552, the connection stays usable), a client gets `per_ip_per_minute`
//! messages (then 450), and at most `max_connections` sessions run at once (then 421).

mod command;
mod handler;
mod lines;
mod rate;
mod reply;
mod session;

use std::{net::IpAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use crate::{clock::Clock, config::InboundConfig, inbound::Sink};

/// Recipients one message may have (`RCPT TO` past this gets 452).
pub const MAX_RECIPIENTS: usize = 10;
/// How long sessions may finish their current command after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the receiver allows one client and all of them.
#[derive(Clone)]
pub struct Limits {
    /// Largest message taken (bytes), advertised as `SIZE` in EHLO.
    pub max_message_bytes: usize,
    /// Messages one client address (an IPv6 /64 counting as one) may send per minute: that
    /// many at once, then one every minute / `per_ip_per_minute` (GCRA).
    pub per_ip_per_minute: u32,
    /// Sessions served at once; more are answered 421 and closed.
    pub max_connections: u32,
    /// How long the receiver waits for a client's next line (RFC 5321: at least 5 minutes).
    pub idle_timeout: Duration,
    /// The name in the greeting and the EHLO reply.
    pub hostname: String,
    /// Where the per-client rate reads the time.
    pub clock: Clock,
}

impl Limits {
    /// The limits of `[inbound]`, with the RFC's 5-minute idle timeout, the host's name (from
    /// `HOSTNAME`, else `tidings`) and the system clock.
    pub fn from_config(config: &InboundConfig) -> Self {
        Self {
            max_message_bytes: config.max_message_bytes,
            per_ip_per_minute: config.per_ip_per_minute,
            max_connections: config.max_connections,
            idle_timeout: Duration::from_secs(5 * 60),
            hostname: hostname(std::env::var("HOSTNAME").ok()),
            clock: Clock::System,
        }
    }
}

/// A name fit for a reply line: letters, digits, dots and dashes only.
fn hostname(name: Option<String>) -> String {
    name.map(|n| n.trim().to_owned())
        .filter(|n| {
            !n.is_empty()
                && n.len() <= 253
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
        .unwrap_or_else(|| "tidings".into())
}

/// Listens on `[inbound] bind`; `None` when it is unset (no receiver).
pub async fn bind(config: &InboundConfig) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = config.bind else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("inbound.bind: cannot listen on {addr}"))?;
    Ok(Some(listener))
}

/// What every session of one receiver shares.
#[derive(Clone)]
struct Context {
    sink: Arc<dyn Sink>,
    limits: Arc<Limits>,
    rate: Arc<rate::PerMinute>,
}

/// Serves SMTP on `listener` until `shutdown`: then it stops accepting, tells idle clients
/// 421, lets sessions finish their current command for a few seconds, and returns.
pub async fn serve(
    listener: TcpListener,
    sink: Arc<dyn Sink>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let ctx = Context {
        sink,
        rate: Arc::new(rate::PerMinute::new(
            limits.per_ip_per_minute,
            rate::CAPACITY,
        )),
        limits: Arc::new(limits),
    };
    let slots = Arc::new(Semaphore::new(ctx.limits.max_connections.max(1) as usize));
    let mut sessions = JoinSet::new();
    tracing::info!(addr = ?listener.local_addr().ok(), "inbound smtp receiver listening");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = sessions.join_next(), if !sessions.is_empty() => log_end(done),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let peer = peer.ip().to_canonical();
                        let session = session::run(stream, peer, ctx.clone(), shutdown.clone(), permit);
                        sessions.spawn(session);
                    }
                    Err(_) => busy(stream, peer.ip()),
                },
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "inbound smtp receiver could not accept a connection");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    let finish = async {
        while let Some(done) = sessions.join_next().await {
            log_end(done);
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, finish).await.is_err() {
        tracing::warn!(
            sessions = sessions.len(),
            "inbound smtp sessions cut off at shutdown"
        );
        sessions.shutdown().await;
    }
    tracing::info!("inbound smtp receiver stopped");
}

/// Turns away a connection over `max_connections`, without waiting on it.
fn busy(stream: TcpStream, peer: IpAddr) {
    tracing::warn!(%peer, "inbound smtp receiver busy, connection refused");
    // A fresh socket's send buffer is empty: this does not block, and a client that cannot
    // take even this much just sees the close.
    let _ = stream.try_write(b"421 4.3.2 busy, try again later\r\n");
}

fn log_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!(error = %e, "inbound smtp session panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_config_with_the_rfc_idle_timeout() {
        let config = InboundConfig {
            max_message_bytes: 5000,
            per_ip_per_minute: 7,
            max_connections: 3,
            ..InboundConfig::default()
        };
        let l = Limits::from_config(&config);
        assert_eq!(
            (l.max_message_bytes, l.per_ip_per_minute, l.max_connections),
            (5000, 7, 3)
        );
        assert_eq!(l.idle_timeout, Duration::from_secs(300));
    }

    #[test]
    fn a_hostname_unfit_for_a_reply_line_falls_back_to_tidings() {
        assert_eq!(hostname(Some("mx1.example.org".into())), "mx1.example.org");
        assert_eq!(hostname(Some("evil\r\n250 x".into())), "tidings");
        assert_eq!(hostname(Some(String::new())), "tidings");
        assert_eq!(hostname(None), "tidings");
    }

    #[tokio::test]
    async fn bind_is_none_when_unset_and_names_the_key_when_it_fails() {
        assert!(bind(&InboundConfig::default()).await.unwrap().is_none());
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = InboundConfig {
            bind: Some(taken.local_addr().unwrap()),
            ..InboundConfig::default()
        };
        let err = bind(&config).await.unwrap_err();
        assert!(format!("{err:#}").starts_with("inbound.bind:"), "{err:#}");
    }
}
