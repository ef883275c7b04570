//! Getting a batch ready: what its deliveries need from the database (runs, recipients,
//! watermarks, articles), and each mail rendered, or the delivery skipped.

use std::{collections::HashMap, sync::Arc};

use super::Worker;
use crate::{
    articles::Article,
    clock::{from_ms, to_ms},
    digests::{
        announcement::{self, announcement_schedule},
        compose::Request,
        selection::{self, Decision, Moment, Reader, Skip, Window},
    },
    domain::{Schedule, announced_article},
    store::{Claim, NewCopy, Outcome, Recipient, RunInfo},
};

/// Candidate articles per selection window, for the batch being prepared.
type ContentCache = HashMap<Window, Arc<Vec<Article>>>;

/// What the deliveries of a batch need, loaded with a few queries for the whole batch.
pub(super) struct BatchContext {
    sections: Vec<crate::domain::Section>,
    /// Section titles and schedule names per language.
    names: crate::domain::DisplayNames,
    runs: HashMap<i64, (RunInfo, Schedule)>,
    pub(super) recipients: HashMap<i64, Recipient>,
    watermarks: HashMap<(String, i64), i64>,
    /// The article of each announcement run of the batch, while it is still published.
    announced: HashMap<i64, Option<Article>>,
    /// The instant the batch is prepared at: what is still published then is mailed.
    now: i64,
}

/// A claimed delivery made ready: already decided (skipped), or a mail to send with the
/// schedule and cutoff its watermark advances to.
pub(super) enum Prepared {
    Done(Outcome),
    Send(Box<crate::digests::compose::Composed>, String, i64),
}

impl Worker {
    /// Loads and renders a batch; each claim with its mail, or its decided outcome.
    pub(super) async fn prepare_batch(
        &self,
        claims: &[Claim],
    ) -> anyhow::Result<Vec<(Claim, Prepared)>> {
        let state = self.state();
        let ctx = self.load_context(claims).await?;
        let mut content_cache: ContentCache = HashMap::new();
        let mut prepared = Vec::with_capacity(claims.len());
        let mut tokens = Vec::new();
        for claim in claims {
            let p = self.prepare(&ctx, claim, &mut content_cache).await?;
            if let Prepared::Send(c, ..) = &p {
                tokens.push((
                    claim.subscriber_id,
                    ctx.recipients[&claim.subscriber_id].generation,
                    c.token_hash.clone(),
                ));
            }
            prepared.push((claim.clone(), p));
            // Composing a mail awaits nothing that waits (the caches answer at once), so a
            // batch of 500 would hold this worker thread for ~100 ms, and every HTTP request
            // queued on it with it (issue 15: the run views' maxima during a run).
            tokio::task::yield_now().await;
        }
        // The links in the mails must work before the mails exist.
        let now = to_ms(state.clock.now());
        state.store.ensure_manage_tokens(&tokens, now).await?;
        // What each mail holds, for its web copy.
        let copies: Vec<_> = (prepared.iter())
            .filter_map(|(claim, p)| match p {
                Prepared::Send(c, ..) => Some(NewCopy {
                    delivery_id: claim.id,
                    run_id: claim.run_id,
                    subscriber_id: claim.subscriber_id,
                    locale: c.locale,
                    article_ids: c.articles.as_slice(),
                }),
                Prepared::Done(_) => None,
            })
            .collect();
        state.store.record_digest_copies(&copies, now).await?;
        Ok(prepared)
    }

    pub(super) async fn load_context(&self, claims: &[Claim]) -> anyhow::Result<BatchContext> {
        let store = &self.state().store;
        let mut runs = HashMap::new();
        let mut announced = HashMap::new();
        for c in claims {
            if runs.contains_key(&c.run_id) {
                continue;
            }
            let run = store
                .run_info(c.run_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("run {} vanished", c.run_id))?;
            if let Some(article) = announced_article(&run.schedule) {
                announced.insert(c.run_id, store.get_article(article).await?);
                runs.insert(c.run_id, (run, announcement_schedule()));
                continue;
            }
            // A deleted schedule still finishes the runs it started, with its last settings.
            let schedule = store
                .get_schedule_any(&run.schedule)
                .await?
                .ok_or_else(|| anyhow::anyhow!("schedule {} vanished", run.schedule))?;
            runs.insert(c.run_id, (run, schedule));
        }
        let ids: Vec<i64> = claims.iter().map(|c| c.subscriber_id).collect();
        let recipients = store
            .recipients(&ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut watermarks = HashMap::new();
        let mut schedules: Vec<&str> = (runs.values())
            .filter(|(r, _)| !announced.contains_key(&r.id))
            .map(|(r, _)| r.schedule.as_str())
            .collect();
        schedules.sort_unstable();
        schedules.dedup();
        for s in schedules {
            for (id, wm) in store.watermarks(s, &ids).await? {
                watermarks.insert((s.to_owned(), id), wm);
            }
        }
        let sections = store.list_sections().await?;
        let names = store
            .display_names(&self.state().config.site.language)
            .await?;
        Ok(BatchContext {
            sections,
            names,
            runs,
            recipients,
            watermarks,
            announced,
            now: to_ms(self.state().clock.now()),
        })
    }

    pub(super) async fn prepare(
        &self,
        ctx: &BatchContext,
        claim: &Claim,
        cache: &mut ContentCache,
    ) -> anyhow::Result<Prepared> {
        let (run, schedule) = &ctx.runs[&claim.run_id];
        let skip = |why: Skip| {
            tracing::debug!(
                run = run.id,
                subscriber = claim.subscriber_id,
                why = why.code(),
                "skipped"
            );
            // An announcement's (empty schedule) moves no watermark.
            let schedule = match ctx.announced.contains_key(&claim.run_id) {
                true => String::new(),
                false => run.schedule.clone(),
            };
            Prepared::Done(Outcome::Skipped {
                claim: claim.clone(),
                schedule,
                cutoff: run.cutoff,
            })
        };
        let Some(r) = ctx.recipients.get(&claim.subscriber_id) else {
            return Ok(skip(Skip::Erased)); // erased since planning
        };
        if let Some(article) = ctx.announced.get(&claim.run_id) {
            return match announcement::decide(r, article.as_ref(), ctx.now, run.cutoff) {
                Err(why) => Ok(skip(why)),
                Ok(picked) => {
                    let schedule = announcement::schedule_for(&self.state().templates, &r.locale);
                    let when = from_ms(run.cutoff);
                    let c = (self.shared.composer).compose(&Request {
                        sections: &ctx.sections,
                        names: &ctx.names,
                        recipient: r,
                        run,
                        schedule: &schedule,
                        picked: &picked,
                        when,
                        delivery: Some(claim.id),
                    })?;
                    // An announcement moves no watermark (it belongs to no schedule).
                    Ok(Prepared::Send(Box::new(c), String::new(), run.cutoff))
                }
            };
        }
        let reader = Reader::of(
            r,
            ctx.watermarks.get(&(run.schedule.clone(), r.id)).copied(),
        );
        let at = Moment {
            cutoff: run.cutoff,
            now: ctx.now,
        };
        // Subscribers who share a window share its query.
        let candidates = match selection::window(&reader, schedule, at) {
            None => Arc::default(),
            Some(w) => match cache.get(&w) {
                Some(a) => a.clone(),
                None => {
                    let a = Arc::new(w.candidates(&self.state().store).await?);
                    cache.insert(w, a.clone());
                    a
                }
            },
        };
        let picked = match selection::decide(&reader, schedule, at, &ctx.sections, &candidates) {
            Decision::Send(p) => p,
            Decision::Skip(why) => return Ok(skip(why)),
        };
        let when = run
            .fire_at
            .map(from_ms)
            .unwrap_or_else(|| from_ms(run.cutoff));
        let composer = &self.shared.composer;
        composer.learn_picture_sizes(picked.articles()).await;
        let message = composer.compose(&Request {
            sections: &ctx.sections,
            names: &ctx.names,
            recipient: r,
            run,
            schedule,
            picked: &picked,
            when,
            delivery: Some(claim.id),
        })?;
        Ok(Prepared::Send(
            Box::new(message),
            run.schedule.clone(),
            run.cutoff,
        ))
    }
}
