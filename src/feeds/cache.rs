//! The feed cache: every public document pre-rendered in every encoding, keyed by request
//! path, rebuilt only for the sections a change touched and swapped in atomically.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, RwLock, atomic::Ordering::Relaxed},
    time::Instant,
};

use anyhow::Context;
use axum::http::HeaderValue;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::{
    ALL,
    doc::FeedDoc,
    index, opml, render,
    rendered::Rendered,
    site::{Format, Site, feed_path},
};
use crate::{
    branding::Branding,
    clock::{Clock, from_ms},
    config::Config,
    events::{Change, Events},
    mail::Templates,
    metrics::Metrics,
    store::{FeedSection, Store},
};

/// What a rebuild covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything, including the index page and OPML.
    All,
    /// These sections' feeds and the `all` feeds.
    Sections(BTreeSet<String>),
}

impl Scope {
    /// Widens the scope to cover `change` too.
    pub fn add(&mut self, change: Change) {
        match (self, change) {
            (Scope::All, _) => {}
            (this, Change::All) => *this = Scope::All,
            (Scope::Sections(set), Change::Sections(more)) => set.extend(more),
        }
    }
}

impl From<Change> for Scope {
    fn from(change: Change) -> Self {
        match change {
            Change::All => Scope::All,
            Change::Sections(s) => Scope::Sections(s.into_iter().collect()),
        }
    }
}

/// Rendered documents by request path, and what is needed to rebuild them.
pub struct FeedCache {
    site: Arc<Site>,
    store: Store,
    clock: Clock,
    metrics: Arc<Metrics>,
    docs: RwLock<HashMap<String, Arc<Rendered>>>,
    /// Sections as last rendered into the index page and OPML.
    sections: Mutex<Vec<FeedSection>>,
    /// Subscribed before the first build, so that no change is missed; taken by the refresher.
    changes: Mutex<Option<broadcast::Receiver<Change>>>,
    /// One rebuild at a time: a later one always reads a later state.
    rebuilding: tokio::sync::Mutex<()>,
    /// The instant the latest full build judged visibility at (when the refresher starts
    /// reading it, the first build's).
    built_as_of: Mutex<DateTime<Utc>>,
    /// `Cache-Control` of every document.
    pub cache_control: HeaderValue,
    /// The front door (`/`), one page per language.
    pub front: index::FrontDoor,
}

impl FeedCache {
    /// Subscribes to changes, then renders every document.
    pub async fn build(
        config: &Config,
        store: Store,
        clock: Clock,
        events: &Events,
        metrics: Arc<Metrics>,
        pages: (Arc<Templates>, Branding),
    ) -> anyhow::Result<Self> {
        let ids = super::identity::fix(&store, config, clock.now()).await?;
        let site = Arc::new(Site::from_config(config, ids));
        let (templates, branding) = pages;
        let front = index::FrontDoor::new(
            config,
            site.clone(),
            store.clone(),
            clock.clone(),
            templates,
            branding,
        );
        let cache = Self {
            cache_control: HeaderValue::from_str(&format!(
                "public, max-age={}",
                site.max_age_seconds
            ))
            .expect("digits are a valid header"),
            site,
            front,
            store,
            clock,
            metrics,
            docs: RwLock::new(HashMap::new()),
            sections: Mutex::new(Vec::new()),
            changes: Mutex::new(Some(events.subscribe())),
            rebuilding: tokio::sync::Mutex::new(()),
            built_as_of: Mutex::new(DateTime::<Utc>::MIN_UTC),
        };
        let started = Instant::now();
        cache
            .rebuild(&Scope::All)
            .await
            .context("build the feed cache")?;
        tracing::info!(
            documents = cache.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "feed cache built"
        );
        Ok(cache)
    }

    /// The document served at `path`, if any (`/`: the front door in the site's language).
    pub fn get(&self, path: &str) -> Option<Arc<Rendered>> {
        if path == "/" {
            return self.front.page(self.front.default_locale()).ok();
        }
        self.docs
            .read()
            .expect("feed cache lock")
            .get(path)
            .cloned()
    }

    /// Number of cached documents.
    pub fn len(&self) -> usize {
        self.docs.read().expect("feed cache lock").len()
    }

    /// Whether nothing is cached (never after a successful build).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Site facts the feeds are rendered with.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// When the first build judged which articles were visible; articles published after it
    /// and before the publication task started watching must still be shown.
    pub fn built_as_of(&self) -> DateTime<Utc> {
        *self.built_as_of.lock().expect("feed cache lock")
    }

    /// The change receiver, once: the refresher task owns it.
    pub fn take_changes(&self) -> Option<broadcast::Receiver<Change>> {
        self.changes.lock().expect("feed cache lock").take()
    }

    /// Re-renders what `scope` covers from the database as of `clock.now()` and swaps it in;
    /// returns the URLs of feeds whose content changed (WebSub topics).
    #[tracing::instrument(skip_all, fields(scope = ?scope))]
    pub async fn rebuild(&self, scope: &Scope) -> anyhow::Result<Vec<String>> {
        let _one_at_a_time = self.rebuilding.lock().await;
        let started = Instant::now();
        let sections = self.store.feed_sections().await?;
        let now = self.clock.now();
        if *scope == Scope::All {
            // Without it the refresher takes every article ever published for one published
            // since, and rebuilds everything again at every start.
            *self.built_as_of.lock().expect("feed cache lock") = now;
        }
        let wanted: Vec<&FeedSection> = sections
            .iter()
            .filter(|s| match scope {
                Scope::All => true,
                Scope::Sections(set) => set.contains(&s.slug),
            })
            .collect();
        // Articles first, marks second: a change landing in between can only make
        // Last-Modified later than the content (a needless download), never earlier.
        let all_items = self.store.feed_articles(None, now, self.site.items).await?;
        let mut section_items = Vec::with_capacity(wanted.len());
        for s in &wanted {
            let items = self
                .store
                .feed_articles(Some(&s.slug), now, self.site.items)
                .await?;
            section_items.push(items);
        }
        let marks = self.store.feed_marks().await?;

        let newest = |items: &[crate::articles::Article]| {
            items.first().map(|a| a.published_at).unwrap_or_default()
        };
        // A deleted section changed the list too: the pages listing sections never get older.
        let sections_edited = (sections.iter().map(|s| s.updated_at).max().unwrap_or(0))
            .max(self.store.sections_deleted_at().await?);
        let all_changed = from_ms(
            marks
                .values()
                .copied()
                .max()
                .unwrap_or(0)
                .max(sections_edited),
        )
        .max(newest(&all_items));
        let mut feeds = vec![FeedDoc::new(
            &self.site,
            ALL,
            &self.site.feed_title(&self.site.all_title()),
            &self.site.all_title(),
            &all_items,
            all_changed,
        )];
        for (s, items) in wanted.iter().zip(&section_items) {
            let mark = marks.get(&s.slug).copied().unwrap_or(0).max(s.updated_at);
            feeds.push(FeedDoc::new(
                &self.site,
                &s.slug,
                &self.site.feed_title(&s.title),
                &s.description,
                items,
                from_ms(mark).max(newest(items)),
            ));
        }
        let pages_stale =
            *scope == Scope::All || *self.sections.lock().expect("feed cache lock") != sections;
        let rebuilt = (wanted.iter().zip(&section_items))
            .map(|(s, items)| (s.slug.as_str(), items.as_slice()))
            .collect();
        self.front.update(&sections, rebuilt, all_changed).await?;
        let mut rendered = render::all_formats(self.site.clone(), feeds).await?;
        if pages_stale {
            let edited = from_ms(sections_edited);
            rendered.push(page(
                "/feeds.opml",
                opml::render(&self.site, &sections),
                "text/x-opml; charset=utf-8",
                edited,
            ));
        }
        self.metrics
            .feed_renders
            .fetch_add(rendered.len() as u64, Relaxed);
        let count = rendered.len();
        // Sections the change named that no longer exist: their feeds answer 404 from now on.
        let gone: Vec<&str> = match scope {
            Scope::All => Vec::new(),
            Scope::Sections(set) => (set.iter())
                .filter(|slug| !sections.iter().any(|s| &s.slug == *slug))
                .map(String::as_str)
                .collect(),
        };
        let (changed, installed) = self.swap(scope, &gone, rendered);
        if pages_stale {
            *self.sections.lock().expect("feed cache lock") = sections;
        }
        // Already served in identity; the compressed forms follow.
        render::compress_all(installed).await?;
        tracing::debug!(
            documents = count,
            changed = changed.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "feeds rebuilt"
        );
        Ok(changed)
    }

    /// Installs `rendered` and drops the feeds of the `gone` sections under one write lock;
    /// returns the URLs of feeds whose content differs from what was served before, and the
    /// installed documents.
    fn swap(
        &self,
        scope: &Scope,
        gone: &[&str],
        rendered: Vec<(String, Rendered)>,
    ) -> (Vec<String>, Vec<Arc<Rendered>>) {
        let mut docs = self.docs.write().expect("feed cache lock");
        let old = std::mem::take(&mut *docs);
        let mut fresh = match scope {
            // Starting empty drops the documents of sections that no longer exist.
            Scope::All => HashMap::with_capacity(rendered.len()),
            Scope::Sections(_) => {
                let mut kept = old.clone();
                for slug in gone {
                    for format in Format::ALL {
                        kept.remove(&feed_path(slug, format));
                    }
                }
                kept
            }
        };
        let mut changed = Vec::new();
        let mut installed = Vec::with_capacity(rendered.len());
        for (path, doc) in rendered {
            let before = old.get(&path);
            if path.starts_with("/feeds/") && before.is_none_or(|b| b.tag != doc.tag) {
                changed.push(self.site.url(&path));
            }
            let doc = Arc::new(doc);
            installed.push(doc.clone());
            fresh.insert(path, doc);
        }
        *docs = fresh;
        (changed, installed)
    }
}

fn page(
    path: &str,
    body: Vec<u8>,
    content_type: &'static str,
    edited: DateTime<Utc>,
) -> (String, Rendered) {
    (
        path.to_owned(),
        Rendered::new(body, content_type, edited, None),
    )
}
