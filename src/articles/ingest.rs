//! Ingest: the one path by which any source stores an article and announces the change.

use std::sync::{Arc, atomic::Ordering::Relaxed};

use super::{ArticleInput, input::check_id};
use crate::{
    clock::Clock,
    error::AppError,
    events::{Change, Events},
    metrics::Metrics,
    store::{PutOutcome, PutResult, Store},
};

/// Stores articles and publishes a [`Change`] for every section whose feeds it touched.
#[derive(Clone)]
pub struct Ingest {
    store: Store,
    events: Events,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl Ingest {
    /// Wires ingest to its dependencies.
    pub fn new(store: Store, events: Events, clock: Clock, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            events,
            clock,
            metrics,
        }
    }

    /// Validates, sanitises and stores one article from `source`.
    #[tracing::instrument(skip_all, fields(id, source))]
    pub async fn put(
        &self,
        id: &str,
        input: ArticleInput,
        source: &str,
    ) -> Result<PutOutcome, AppError> {
        let sections = self.store.list_sections().await?;
        let article =
            input.into_new_article(id, source, |slug| sections.iter().any(|s| s.slug == slug))?;
        let now = self.clock.now();
        let outcome = self.store.put_article(&article, now).await?;
        let counter = match outcome.result {
            PutResult::Created => &self.metrics.articles_created,
            PutResult::Updated => &self.metrics.articles_updated,
            PutResult::Unchanged => &self.metrics.articles_unchanged,
        };
        counter.fetch_add(1, Relaxed);
        if !outcome.changed_sections.is_empty() {
            self.events
                .publish(Change::Sections(outcome.changed_sections.clone()));
        }
        Ok(outcome)
    }

    /// Retracts an article; `NotFound` when there is none to retract.
    #[tracing::instrument(skip_all, fields(id))]
    pub async fn retract(&self, id: &str) -> Result<(), AppError> {
        check_id(id)?;
        match self.store.retract_article(id, self.clock.now()).await? {
            Some(section) => {
                self.metrics.articles_retracted.fetch_add(1, Relaxed);
                self.events.publish(Change::Sections(vec![section]));
                Ok(())
            }
            None => Err(AppError::NotFound(format!("no article with id {id:?}"))),
        }
    }
}
