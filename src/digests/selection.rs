//! Which articles a subscriber gets from a run, or why they get none (SPEC §6): the one rule
//! that the delivery worker, the preview and `digest run --dry-run` all apply.
//!
//! The rule is pure. The store fetches the candidates of a [`Window`] (one query per distinct
//! window, shared by every subscriber who has it) and [`decide`] picks among them. `decide`
//! applies the whole window again to what it is given, so the query only has to return a
//! superset of the answer; it returns exactly the answer (same conditions, newest first,
//! limited to `max_articles`).
//!
//! A subscriber's first mail of a schedule (no watermark yet) also holds the schedule's
//! `first_digest_articles` latest articles of their sections, published before they confirmed
//! or not, so that the first mail after subscribing is never empty while the site has
//! articles.

pub use super::skip::Skip;
use crate::domain::{Schedule, Section, SubscriberStatus};
use crate::{
    articles::Article,
    clock::to_ms,
    store::{Recipient, Store},
};

/// A subscriber as the rule sees them.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub status: SubscriberStatus,
    /// `None` = every section, now and later.
    pub sections: Option<&'a [String]>,
    /// When they confirmed (or were imported): where their first digest starts.
    pub since: i64,
    /// Where their previous digest of this schedule ended (sent or skipped), if there was one.
    pub watermark: Option<i64>,
}

impl<'a> Reader<'a> {
    /// `r` with their watermark for the schedule being run.
    pub fn of(r: &'a Recipient, watermark: Option<i64>) -> Self {
        Self {
            status: r.status,
            sections: r.sections.as_deref(),
            since: r.since,
            watermark,
        }
    }
}

/// When a run looks (ms): at what became visible up to `cutoff` (its fire instant, or when a
/// manual run or a preview was made) and is still published at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub cutoff: i64,
    pub now: i64,
}

/// The articles a subscriber can get from a run, as a query: visible in `(after, cutoff]`,
/// published at `now`, of `sections` (`None` = all), the newest `limit`; and, for a first
/// mail, the `latest` newest visible by `cutoff` whenever they became visible.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    pub sections: Option<Vec<String>>,
    pub after: i64,
    pub cutoff: i64,
    pub now: i64,
    pub limit: i64,
    /// Latest articles a first mail holds besides the new ones (0 after the first).
    pub latest: i64,
}

impl Window {
    /// Fetches this window's articles (newest first, the latest ones among them) from the
    /// store.
    pub async fn candidates(&self, store: &Store) -> anyhow::Result<Vec<Article>> {
        let sections = self.sections.as_deref();
        let mut found = store
            .digest_articles(sections, self.after, self.cutoff, self.now, self.limit)
            .await?;
        if self.latest > 0 {
            let latest = store
                .digest_articles(sections, i64::MIN, self.cutoff, self.now, self.latest)
                .await?;
            // `decide` drops any repeat.
            found.extend(latest);
        }
        Ok(found)
    }

    /// Visible by the cutoff, published at `now`, in the reader's sections: whether new or
    /// one of the latest, an article outside this is never mailed.
    fn reaches(&self, a: &Article) -> bool {
        to_ms(a.visible_at) <= self.cutoff
            && to_ms(a.published_at) <= self.now
            && self
                .sections
                .as_ref()
                .is_none_or(|s| s.contains(&a.section))
    }

    fn admits(&self, a: &Article) -> bool {
        // Each article is in exactly one window of a subscriber's successive runs (the next
        // one starts where this one ends): nobody gets an article twice from one schedule.
        self.reaches(a) && to_ms(a.visible_at) > self.after
    }
}

/// The articles of one digest in mail order: sections in their display order, newest first
/// within each. Only [`decide`] makes one of several articles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Picked<'a>(Vec<&'a Article>);

impl<'a> Picked<'a> {
    /// One article alone: an announcement.
    pub fn one(article: &'a Article) -> Self {
        Self(vec![article])
    }

    /// Every article, in mail order.
    pub fn articles(&self) -> &[&'a Article] {
        &self.0
    }

    /// Whether the digest has no article (sent only when the schedule sends empty ones).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The articles as `(section slug, its articles)`, in mail order.
    pub fn by_section(&self) -> impl Iterator<Item = (&'a str, &[&'a Article])> {
        self.0
            .chunk_by(|a, b| a.section == b.section)
            .map(|chunk| (chunk[0].section.as_str(), chunk))
    }
}

/// What a run does for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// A digest of these articles (empty only when the schedule sends empty digests).
    Send(Picked<'a>),
    Skip(Skip),
}

/// The candidates to fetch for `reader` from a run of `schedule` at `at`; `None` when no
/// article can change the decision.
pub fn window(reader: &Reader, schedule: &Schedule, at: Moment) -> Option<Window> {
    if reader.status != SubscriberStatus::Active {
        return None;
    }
    let limit = schedule.max_articles.max(0);
    Some(Window {
        sections: reader.sections.map(<[String]>::to_vec),
        // Since their previous digest of this schedule, or since they confirmed.
        after: reader.watermark.unwrap_or(reader.since),
        cutoff: at.cutoff,
        now: at.now,
        limit,
        latest: match reader.watermark {
            None => schedule.first_digest_articles.clamp(0, limit),
            Some(_) => 0,
        },
    })
}

/// What a run of `schedule` at `at` does for `reader`, picking among `candidates` (any
/// superset of what [`window`] fetches, in any order); `sections` are all sections, in their
/// display order.
pub fn decide<'a>(
    reader: &Reader,
    schedule: &Schedule,
    at: Moment,
    sections: &[Section],
    candidates: &'a [Article],
) -> Decision<'a> {
    let Some(w) = window(reader, schedule, at) else {
        return Decision::Skip(Skip::NotActive(reader.status));
    };
    // Newest first; the id breaks ties the way the store's query does.
    let newest_first =
        |a: &&Article, b: &&Article| (b.published_at, &b.id).cmp(&(a.published_at, &a.id));
    let mut reached: Vec<&Article> = candidates.iter().filter(|a| w.reaches(a)).collect();
    reached.sort_by(newest_first);
    reached.dedup_by(|a, b| a.id == b.id);
    // The first `latest` of everything reachable are the latest articles (the candidates hold
    // at least those); then the new ones.
    let latest = usize::try_from(w.latest).unwrap_or(0);
    let mut picked: Vec<&Article> = (reached.iter().enumerate())
        .filter(|(i, a)| *i < latest || w.admits(a))
        .map(|(_, a)| *a)
        .collect();
    picked.truncate(usize::try_from(w.limit).unwrap_or(0));
    if picked.is_empty() && !schedule.send_when_empty {
        return Decision::Skip(match reader.sections {
            Some([]) => Skip::NoSections,
            _ => Skip::NothingNew { since: w.after },
        });
    }
    // Grouped by section in display order (a stable sort keeps newest first within each);
    // a section missing from the list (none should be) goes last rather than being dropped.
    let position = |slug: &str| sections.iter().position(|s| s.slug == slug);
    picked.sort_by(|a, b| {
        let (pa, pb) = (position(&a.section), position(&b.section));
        (pa.is_none(), pa, &a.section).cmp(&(pb.is_none(), pb, &b.section))
    });
    Decision::Send(Picked(picked))
}

#[cfg(test)]
mod first_tests;
#[cfg(test)]
mod tests;
