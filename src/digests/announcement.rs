//! Announcements (SPEC §6): an admin sends one article now to every active subscriber of its
//! section, whatever their schedule, through the same ledger, leases, retries and run view as
//! digests.
//!
//! The run's `schedule` is `announce:<article id>` (no schedule slug has a colon), so
//! `GET /api/v1/runs?schedule=announce:<id>` lists an article's announcements. An article is
//! announced once unless forced; two requests at once make one run. The mail is the digest
//! template with that one article, under the name `[schedule_names] announcements` of the
//! reader's strings file; it moves no watermark, so the article still appears in the
//! reader's next digest, which is a summary of everything new.

use chrono::{DateTime, Utc};

use super::{Digests, selection::Picked, skip::Skip};
use crate::{
    clock::to_ms,
    domain::{Article, Schedule, ScheduleKind, SubscriberStatus},
    mail::Templates,
    store::{Announced, Recipient},
};

/// The `List-Id` (and strings) name of announcement mail.
pub const SLUG: &str = "announcements";

/// Why an article cannot be announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Retracted,
    /// Its publication time is still to come.
    NotYetPublished(DateTime<Utc>),
}

impl Digests {
    /// Announces article `id` now (again only when `force`); wakes the delivery loops.
    #[tracing::instrument(skip_all, fields(id, force))]
    pub async fn announce(
        &self,
        id: &str,
        force: bool,
    ) -> anyhow::Result<Result<Announced, Refused>> {
        let now = self.clock.now();
        let Some(found) = self.store.console_article(id).await? else {
            return Ok(Err(Refused::Unknown));
        };
        if found.retracted_at.is_some() {
            return Ok(Err(Refused::Retracted));
        }
        let a = found.article;
        if a.published_at > now {
            return Ok(Err(Refused::NotYetPublished(a.published_at)));
        }
        let done = (self.store)
            .announce_article(&a.id, &a.section, force, to_ms(now))
            .await?;
        if let Announced::Started(run) = done {
            tracing::info!(article = %a.id, run, force, "announcement started");
            self.wakeup.notify_waiters();
        }
        Ok(Ok(done))
    }
}

/// The schedule announcement mail is composed under (its name set per reader).
pub fn announcement_schedule() -> Schedule {
    Schedule {
        slug: SLUG.to_owned(),
        name: String::new(),
        cron: String::new(),
        timezone: "UTC".to_owned(),
        enabled: true,
        send_when_empty: false,
        max_articles: 1,
        kind: ScheduleKind::Digest,
        window_seconds: None,
        first_digest_articles: 0,
        created_at: 0,
        checked_until: None,
    }
}

/// [`announcement_schedule`] named in `locale`.
pub fn schedule_for(templates: &Templates, locale: &str) -> Schedule {
    let name = templates
        .lookup(locale, &format!("schedule_names.{SLUG}"))
        .unwrap_or_else(|| {
            if locale.starts_with("en") {
                "Announcement".to_owned()
            } else {
                "通知".to_owned()
            }
        });
    Schedule {
        name,
        ..announcement_schedule()
    }
}

/// What an announcement run mails `r`, prepared at `now`: the article while it is still
/// published, if they are active and still follow its section; else why not (`cutoff`: when
/// the announcement was made).
pub fn decide<'a>(
    r: &Recipient,
    article: Option<&'a Article>,
    now: i64,
    cutoff: i64,
) -> Result<Picked<'a>, Skip> {
    if r.status != SubscriberStatus::Active {
        return Err(Skip::NotActive(r.status));
    }
    let Some(a) = article.filter(|a| to_ms(a.published_at) <= now) else {
        return Err(Skip::ArticleGone);
    };
    // They may have left the section since the announcement was made.
    if r.sections.as_ref().is_some_and(|s| !s.contains(&a.section)) {
        return Err(Skip::NothingNew { since: cutoff });
    }
    Ok(Picked::one(a))
}
