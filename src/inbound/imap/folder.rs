//! One poll's work in the selected folder: find the messages, look at their sizes, fetch
//! them in batches, hand each to the sink, flag what it took and expunge that at the end.

use std::{collections::HashSet, time::Duration};

use async_imap::types::{Fetch, Flag};
use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::{Guard, Limits, PollReport, endpoint::Session, stream, wire};
use crate::inbound::{Inbound, Sink, Via};

/// Messages fetched in one command, at most (and at most [`BATCH_BYTES`] unless one alone is
/// larger).
const BATCH_MESSAGES: usize = 50;
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// What an answer may carry besides the message bytes the command asked for.
const ANSWER_SLACK: usize = 256 * 1024;
/// What a UID SEARCH answer may take (a folder with a million messages fits).
const SEARCH_BUDGET: usize = 16 * 1024 * 1024;

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
    /// What marks a message the sink took.
    fn done(&self) -> &'static str {
        if self.keywords {
            "+FLAGS.SILENT (\\Deleted $TidingsDone)"
        } else {
            "+FLAGS.SILENT (\\Deleted)"
        }
    }
    /// What marks a message too big to fetch, if anything can.
    fn too_big(&self) -> Option<&'static str> {
        self.keywords
            .then_some("+FLAGS.SILENT (\\Flagged $TidingsTooBig)")
    }
}

/// SELECTs `folder`, hands its messages to `sink` and expunges the ones it took.
pub(super) async fn empty_folder(
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
    // The flag after the sink took a message is written even when shutdown came meanwhile:
    // without it the message would be delivered again.
    let never = CancellationToken::new();
    let flagging = Guard {
        limit: guard.limit,
        shutdown: &never,
    };
    'batches: for batch in batches(&fit) {
        if guard.shutdown.is_cancelled() {
            break;
        }
        let bytes: usize = batch.iter().map(|(_, size)| size).sum();
        let uids: Vec<u32> = batch.iter().map(|(uid, _)| *uid).collect();
        for (uid, raw) in fetch_bodies(session, &uids, bytes, guard).await? {
            if guard.shutdown.is_cancelled() {
                break 'batches;
            }
            report.fetched += 1;
            let message = Inbound {
                recipients: wire::recipients(&raw),
                raw,
                via: Via::Imap,
                peer: None,
            };
            match sink.deliver(message).await {
                Ok(()) => {
                    store(session, uid, marks.done(), &flagging).await?;
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
