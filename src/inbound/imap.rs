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
mod stream;
mod wire;

use std::{collections::HashSet, future::Future, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use async_imap::types::{Fetch, Flag};
use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;

use self::endpoint::{Endpoint, Session};
use super::{Inbound, Sink, Via};
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

/// Messages fetched in one command, at most (and at most [`BATCH_BYTES`] unless one alone is
/// larger).
const BATCH_MESSAGES: usize = 50;
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// What an answer may carry besides the message bytes the command asked for.
const ANSWER_SLACK: usize = 256 * 1024;
/// What a UID SEARCH answer may take (a folder with a million messages fits).
const SEARCH_BUDGET: usize = 16 * 1024 * 1024;

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

/// One poll of `folder` at `url`. On `shutdown` it stops at the next command or message
/// (never in the middle of the sink's work) and answers what it did so far.
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
    let report = empty_folder(&mut session, folder, sink, limits, &guard)
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

/// The poller's own flags, with or without a keyword as the folder allows.
struct Marks {
    keywords: bool,
}

impl Marks {
    /// Messages to look at.
    fn candidates(&self) -> &'static str {
        if self.keywords {
            "UNDELETED UNKEYWORD $TidingsTooBig"
        } else {
            "UNDELETED"
        }
    }
    /// Messages a poll took but did not expunge.
    fn leftovers(&self) -> &'static str {
        if self.keywords {
            "DELETED KEYWORD $TidingsDone"
        } else {
            "DELETED"
        }
    }
    fn done(&self) -> &'static str {
        if self.keywords {
            "+FLAGS.SILENT (\\Deleted $TidingsDone)"
        } else {
            "+FLAGS.SILENT (\\Deleted)"
        }
    }
    fn too_big(&self) -> Option<&'static str> {
        self.keywords
            .then_some("+FLAGS.SILENT (\\Flagged $TidingsTooBig)")
    }
}

/// SELECTs `folder`, hands its messages to `sink` and expunges the ones it took.
async fn empty_folder(
    session: &mut Session,
    folder: &str,
    sink: &dyn Sink,
    limits: &Limits,
    guard: &Guard<'_>,
) -> anyhow::Result<PollReport> {
    let mailbox = guard
        .run("SELECT", session.select(wire::mailbox_name(folder)))
        .await?;
    let marks = Marks {
        keywords: mailbox.permanent_flags.contains(&Flag::MayCreate),
    };
    let mut taken = search(session, marks.leftovers(), guard).await?;
    let mut uids = search(session, marks.candidates(), guard).await?;
    uids.truncate(limits.max_messages);
    let mut report = PollReport::default();
    let (fit, too_big) = sizes(session, &uids, limits, guard).await?;
    for (uid, size) in too_big {
        tracing::warn!(
            uid,
            size,
            max_bytes = limits.max_bytes,
            "IMAP message too big, left in the mailbox"
        );
        report.too_big += 1;
        if let Some(flags) = marks.too_big() {
            store(session, uid, flags, guard).await?;
        }
    }
    for batch in batches(&fit) {
        if guard.shutdown.is_cancelled() {
            break;
        }
        let bytes: usize = batch.iter().map(|(_, size)| size).sum();
        let uids: Vec<u32> = batch.iter().map(|(uid, _)| *uid).collect();
        for (uid, raw) in fetch_bodies(session, &uids, bytes, guard).await? {
            report.fetched += 1;
            let message = Inbound {
                recipients: wire::recipients(&raw),
                raw,
                via: Via::Imap,
                peer: None,
            };
            match sink.deliver(message).await {
                Ok(()) => {
                    store(session, uid, marks.done(), guard).await?;
                    report.delivered += 1;
                    taken.push(uid);
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(uid, error = %format!("{e:#}"), "IMAP message not taken; left for the next poll");
                }
            }
        }
    }
    expunge(session, taken, guard).await?;
    Ok(report)
}

/// `UID SEARCH <criteria>`, sorted.
async fn search(
    session: &mut Session,
    criteria: &str,
    guard: &Guard<'_>,
) -> anyhow::Result<Vec<u32>> {
    session.get_mut().set_budget(SEARCH_BUDGET);
    let found = guard
        .run("UID SEARCH", session.uid_search(criteria))
        .await?;
    let mut uids: Vec<u32> = found.into_iter().collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The sizes of `uids`, split into those that fit `max_bytes` and those that do not.
async fn sizes(
    session: &mut Session,
    uids: &[u32],
    limits: &Limits,
    guard: &Guard<'_>,
) -> anyhow::Result<(Vec<(u32, usize)>, Vec<(u32, usize)>)> {
    if uids.is_empty() {
        return Ok(Default::default());
    }
    session
        .get_mut()
        .set_budget(ANSWER_SLACK + uids.len() * 128);
    let wanted: HashSet<u32> = uids.iter().copied().collect();
    let fetches = guard
        .run(
            "UID FETCH RFC822.SIZE",
            fetch_all(session, &wire::uid_set(uids), "(UID RFC822.SIZE)"),
        )
        .await?;
    let mut sized: Vec<(u32, usize)> = fetches
        .iter()
        .filter_map(|f| Some((f.uid?, f.size? as usize)))
        .filter(|(uid, _)| wanted.contains(uid))
        .collect();
    sized.sort_unstable();
    sized.dedup_by_key(|(uid, _)| *uid);
    Ok(sized
        .into_iter()
        .partition(|(_, size)| *size <= limits.max_bytes))
}

/// Groups of at most [`BATCH_MESSAGES`] messages and [`BATCH_BYTES`] (a larger message alone).
fn batches(sized: &[(u32, usize)]) -> Vec<&[(u32, usize)]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, size)) in sized.iter().enumerate() {
        if i > start && (i - start == BATCH_MESSAGES || bytes + size > BATCH_BYTES) {
            out.push(&sized[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sized.len() {
        out.push(&sized[start..]);
    }
    out
}

/// The whole of each message in `uids` (which together are about `bytes`), in UID order;
/// messages gone meanwhile are missing.
async fn fetch_bodies(
    session: &mut Session,
    uids: &[u32],
    bytes: usize,
    guard: &Guard<'_>,
) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
    session.get_mut().set_budget(bytes + ANSWER_SLACK);
    let longer = Guard {
        limit: guard.limit + Duration::from_secs((bytes / (64 * 1024)) as u64),
        shutdown: guard.shutdown,
    };
    let fetches = longer
        .run(
            "UID FETCH BODY.PEEK[]",
            fetch_all(session, &wire::uid_set(uids), "(UID BODY.PEEK[])"),
        )
        .await?;
    let wanted: HashSet<u32> = uids.iter().copied().collect();
    let mut bodies: Vec<(u32, Vec<u8>)> = fetches
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .filter(|(uid, _)| wanted.contains(uid))
        .collect();
    bodies.sort_unstable_by_key(|(uid, _)| *uid);
    bodies.dedup_by_key(|(uid, _)| *uid);
    Ok(bodies)
}

/// `UID FETCH <set> <query>`, every answer read.
async fn fetch_all(
    session: &mut Session,
    set: &str,
    query: &str,
) -> async_imap::error::Result<Vec<Fetch>> {
    session.uid_fetch(set, query).await?.try_collect().await
}

/// `UID STORE <uid> <flags>`.
async fn store(
    session: &mut Session,
    uid: u32,
    flags: &str,
    guard: &Guard<'_>,
) -> anyhow::Result<()> {
    session.get_mut().set_budget(stream::DEFAULT_BUDGET);
    let stored = async {
        let answers = session.uid_store(uid.to_string(), flags).await?;
        answers.try_collect::<Vec<Fetch>>().await
    };
    guard.run("UID STORE", stored).await?;
    Ok(())
}

/// Removes the messages in `uids` (flagged `\Deleted`): only those where the server has
/// UIDPLUS, every `\Deleted` one of the folder where it has not.
async fn expunge(
    session: &mut Session,
    mut uids: Vec<u32>,
    guard: &Guard<'_>,
) -> anyhow::Result<()> {
    if uids.is_empty() || guard.shutdown.is_cancelled() {
        return Ok(());
    }
    uids.sort_unstable();
    uids.dedup();
    session
        .get_mut()
        .set_budget(stream::DEFAULT_BUDGET + uids.len() * 32);
    let uidplus = guard
        .run("CAPABILITY", session.capabilities())
        .await?
        .has_str("UIDPLUS");
    let expunged = async {
        if uidplus {
            session
                .uid_expunge(wire::uid_set(&uids))
                .await?
                .try_collect::<Vec<u32>>()
                .await
        } else {
            session.expunge().await?.try_collect::<Vec<u32>>().await
        }
    };
    guard.run("EXPUNGE", expunged).await?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let small: Vec<(u32, usize)> = (1..=120).map(|u| (u, 1000)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [50, 50, 20]);
        let big = [
            (1, BATCH_BYTES - 10),
            (2, 100),
            (3, BATCH_BYTES + 5),
            (4, 1),
        ];
        let groups: Vec<Vec<u32>> = batches(&big)
            .iter()
            .map(|b| b.iter().map(|(u, _)| *u).collect())
            .collect();
        assert_eq!(groups, [vec![1], vec![2], vec![3], vec![4]]);
        assert!(batches(&[]).is_empty());
    }
}
