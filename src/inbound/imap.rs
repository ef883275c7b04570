//! The IMAP poller (`[inbound] imap_url`, SPEC §10): organisations whose mail is hosted
//! point bounce and unsubscribe mail at a mailbox, and tidings empties it into the [`Sink`].
//!
//! One poll: connect, LOGIN, SELECT the folder, `UID SEARCH UNDELETED` (not UNSEEN: the
//! poller reads with `BODY.PEEK[]`, which leaves `\Seen` alone, and a person reading the
//! mailbox in webmail must not hide mail from it), look at the sizes, fetch the rest in
//! batches, hand each message to the sink, and flag it `\Deleted` the moment the sink took
//! it; at the end `UID EXPUNGE` (plain `EXPUNGE` where the server lacks UIDPLUS), LOGOUT.
//! A message the sink refuses is left as it was for the next poll. So a message leaves the
//! mailbox only after the sink took it, and a crash between the sink and the flag delivers it
//! again at the next poll (at least once, never lost); a flagged message is never delivered
//! again, and one flagged by a poll that died before its EXPUNGE is expunged by the next.
//!
//! Where the server lets clients make keywords, the poller's own flags carry one
//! (`$TidingsDone` with `\Deleted`; `$TidingsTooBig` with `\Flagged` on a message over
//! `max_bytes`, which is never fetched and is left for a person). Without keywords, an
//! oversized message is skipped and counted again at each poll.
//!
//! URLs: `imaps://user:password@host[:993]` is TLS from the first byte;
//! `imap://user:password@host[:143]` demands STARTTLS before the password is sent
//! (`?tls=opportunistic`: STARTTLS when offered, else plain; `?tls=none`: never, for local
//! test servers). Certificates are checked against the web's root authorities. User and
//! password are percent-decoded (`%40` for `@`). Folder names may be any Unicode.
//!
//! Bounds: at most [`Limits::max_messages`] messages per poll, every command under
//! [`Limits::command_timeout`] (a fetch gets more time per byte it brings), and the stream
//! refuses answers larger than the command asked for.

mod endpoint;
mod folder;
mod stream;
mod wire;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use self::endpoint::Endpoint;
use super::Sink;
use crate::config::{InboundConfig, parse_interval};

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Messages fetched and handed to the sink.
    pub fetched: usize,
    /// Of those, the ones the sink took (flagged `\Deleted` and expunged).
    pub delivered: usize,
    /// Of those, the ones the sink refused (left in the mailbox for the next poll).
    pub failed: usize,
    /// Messages larger than `max_bytes`, not fetched.
    pub too_big: usize,
}

/// How much one poll may do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message fetched (bytes); larger ones are counted in `too_big` and left.
    pub max_bytes: usize,
    /// Messages handled per poll; the rest wait for the next one.
    pub max_messages: usize,
    /// Time each command may take (a fetch gets one more second per 64 KiB it brings).
    pub command_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            max_messages: 500,
            command_timeout: Duration::from_secs(30),
        }
    }
}

/// One poll of `folder` at `url` with the default [`Limits`] but `max_bytes`.
pub async fn poll_once(
    url: &str,
    folder: &str,
    sink: &dyn Sink,
    max_bytes: usize,
) -> anyhow::Result<PollReport> {
    let limits = Limits {
        max_bytes,
        ..Limits::default()
    };
    poll(url, folder, sink, &limits, &CancellationToken::new()).await
}

/// One poll of `folder` at `url`. On `shutdown` it stops before the next command or message,
/// never in the middle of the sink's work (and still flags a message the sink just took);
/// a command cut short makes it an error, which leaves nothing half done in the mailbox.
#[tracing::instrument(skip_all, fields(folder = folder))]
pub async fn poll(
    url: &str,
    folder: &str,
    sink: &dyn Sink,
    limits: &Limits,
    shutdown: &CancellationToken,
) -> anyhow::Result<PollReport> {
    let endpoint = Endpoint::parse(url)?;
    let guard = Guard {
        limit: limits.command_timeout,
        shutdown,
    };
    let mut session = endpoint.connect(&guard).await?;
    let report = folder::empty_folder(&mut session, folder, sink, limits, &guard)
        .await
        .with_context(|| format!("IMAP folder {folder:?} at {endpoint}"))?;
    if !shutdown.is_cancelled()
        && let Err(e) = guard.run("LOGOUT", session.logout()).await
    {
        // The work is done and recorded in the mailbox; a lost goodbye changes nothing.
        tracing::debug!(error = %format!("{e:#}"), "IMAP LOGOUT");
    }
    Ok(report)
}

/// Polls `config.imap_url` every `config.interval` until `shutdown`; a failing server is
/// logged and tried again at the next interval. Returns at once without an `imap_url`.
pub async fn run(config: &InboundConfig, sink: Arc<dyn Sink>, shutdown: CancellationToken) {
    let Some(url) = config.imap_url.as_deref() else {
        return;
    };
    let (endpoint, interval) = match (Endpoint::parse(url), parse_interval(&config.interval)) {
        (Ok(e), Ok(i)) => (e, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "inbound IMAP poller not started");
            return;
        }
    };
    let limits = Limits {
        max_bytes: config.max_message_bytes,
        ..Limits::default()
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(server = %endpoint, folder = %config.folder, ?interval, "inbound IMAP poller started");
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        match poll(url, &config.folder, sink.as_ref(), &limits, &shutdown).await {
            Ok(r) if r == PollReport::default() => {
                tracing::debug!(server = %endpoint, "inbound IMAP poll: nothing new")
            }
            Ok(r) => tracing::info!(
                server = %endpoint, fetched = r.fetched, delivered = r.delivered,
                failed = r.failed, too_big = r.too_big, "inbound IMAP poll"
            ),
            Err(_) if shutdown.is_cancelled() => break,
            Err(e) => tracing::warn!(
                server = %endpoint, error = %format!("{e:#}"),
                "inbound IMAP poll failed; trying again in {}", humantime::format_duration(interval)
            ),
        }
    }
    tracing::info!(server = %endpoint, "inbound IMAP poller stopped");
}

/// Runs one IMAP step under the time limit, giving up on shutdown.
struct Guard<'a> {
    limit: Duration,
    shutdown: &'a CancellationToken,
}

impl Guard<'_> {
    /// `step` within the limit; its error gets the step's name.
    async fn run<T, E>(
        &self,
        what: &str,
        step: impl Future<Output = Result<T, E>>,
    ) -> anyhow::Result<T>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        self.run_raw(what, step)
            .await?
            .map_err(|e| anyhow::Error::new(e).context(format!("IMAP {what}")))
    }

    /// `step` within the limit, its output as is.
    async fn run_raw<T>(&self, what: &str, step: impl Future<Output = T>) -> anyhow::Result<T> {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => bail!("IMAP {what}: stopped by shutdown"),
            done = tokio::time::timeout(self.limit, step) => {
                done.map_err(|_| {
                    let limit = humantime::format_duration(self.limit);
                    anyhow::anyhow!("IMAP {what}: no answer within {limit}")
                })
            }
        }
    }
}
