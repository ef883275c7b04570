//! `GET /`: the front door, in the visitor's language (`?locale=`, else `Accept-Language`,
//! else the site's). Its data (sections, their latest visible articles) comes with every
//! rebuild of the feeds; the subscribe form's offer and the names by language are read again
//! with it, and at a request when older than [`FRESH`] (schedules change without telling the
//! feeds). Each language's page is rendered once per change of data, offer or branding and
//! then answered from memory, with the validators and codings of every cached document.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};

use super::{
    FeedCache,
    index_view::{self, Data, LATEST, Latest, Parts},
    rendered::Rendered,
    serve,
    site::Site,
};
use crate::{
    articles::Article,
    branding::{Brand, Branding},
    clock::Clock,
    config::Config,
    mail::Templates,
    store::{FeedSection, Store},
    subscriptions::{choices::Catalog, choose_locale, supported},
};

/// How long a request trusts the form's offer (schedules and names) read earlier.
const FRESH: chrono::Duration = chrono::Duration::seconds(5);

/// Pages may show the console's logo from anywhere on the web; otherwise as the feeds'
/// `HTML_SECURITY_HEADERS`: no script, own styles only, forms post here only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every language's page is rendered from.
struct Snapshot {
    data: Arc<Data>,
    catalog: Arc<Catalog>,
    /// When the catalog was read (app clock).
    read_at: DateTime<Utc>,
    /// Bumped with every new data or catalog: the pages rendered before are stale.
    generation: u64,
}

/// A language's page and what it was rendered from.
struct Page {
    generation: u64,
    brand: Brand,
    doc: Arc<Rendered>,
}

/// The front door's cache.
pub struct FrontDoor {
    site: Arc<Site>,
    config: Arc<Config>,
    store: Store,
    clock: Clock,
    templates: Arc<Templates>,
    branding: Branding,
    base_path: String,
    home_url: Option<String>,
    now: RwLock<Arc<Snapshot>>,
    /// Each language's page.
    pages: RwLock<HashMap<&'static str, Page>>,
    /// One reader of a stale offer at a time; the others answer from the copy they have.
    refreshing: tokio::sync::Mutex<()>,
}

impl FrontDoor {
    /// An empty front door, filled by the feeds' first build.
    pub fn new(
        config: &Config,
        site: Arc<Site>,
        store: Store,
        clock: Clock,
        templates: Arc<Templates>,
        branding: Branding,
    ) -> Self {
        let base = url::Url::parse(&config.site.base_url).expect("validated at load");
        let base_path = base.path().trim_end_matches('/').to_owned();
        let home_url = (config.site.home_url.as_deref())
            .filter(|h| h.trim_end_matches('/') != config.site.base_url.trim_end_matches('/'))
            .map(str::to_owned);
        let empty = Catalog {
            sections: Vec::new(),
            schedules: Vec::new(),
            default_schedule: None,
            names: Default::default(),
            descriptions: Default::default(),
        };
        Self {
            site,
            config: Arc::new(config.clone()),
            store,
            now: RwLock::new(Arc::new(Snapshot {
                data: Arc::default(),
                catalog: Arc::new(empty),
                read_at: DateTime::<Utc>::MIN_UTC,
                generation: 0,
            })),
            clock,
            templates,
            branding,
            base_path,
            home_url,
            pages: RwLock::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Takes a rebuild's view: every section, and the newest visible articles (up to the
    /// feeds' size) of those it rebuilt; the others keep theirs. `edited` is the last change.
    pub async fn update(
        &self,
        sections: &[FeedSection],
        rebuilt: Vec<(&str, &[Article])>,
        edited: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut fresh = HashMap::new();
        for (slug, items) in rebuilt {
            let items = if items.len() >= LATEST || self.site.items as usize >= LATEST {
                items[..items.len().min(LATEST)]
                    .iter()
                    .map(Latest::from)
                    .collect()
            } else {
                // Feeds hold fewer than the page lists.
                (self
                    .store
                    .feed_articles(Some(slug), now, LATEST as u32)
                    .await?
                    .iter())
                .map(Latest::from)
                .collect()
            };
            fresh.insert(slug.to_owned(), items);
        }
        let catalog = Catalog::load(&self.store, &self.config).await?;
        let mut current = self.now.write().expect("front door lock");
        let latest = (sections.iter())
            .map(|s| {
                let items = fresh.remove(&s.slug).unwrap_or_else(|| {
                    current
                        .data
                        .latest
                        .get(&s.slug)
                        .cloned()
                        .unwrap_or_default()
                });
                (s.slug.clone(), items)
            })
            .collect();
        *current = Arc::new(Snapshot {
            data: Arc::new(Data {
                sections: sections.to_vec(),
                latest,
                edited,
            }),
            catalog: Arc::new(catalog),
            read_at: now,
            generation: current.generation + 1,
        });
        Ok(())
    }

    /// Reads the form's offer and the names again when the copy is older than [`FRESH`].
    async fn refresh_if_stale(&self) {
        let now = self.clock.now();
        if now - self.now.read().expect("front door lock").read_at < FRESH {
            return;
        }
        let Ok(_one) = self.refreshing.try_lock() else {
            return;
        };
        match Catalog::load(&self.store, &self.config).await {
            Ok(catalog) => {
                let mut current = self.now.write().expect("front door lock");
                *current = Arc::new(Snapshot {
                    data: current.data.clone(),
                    catalog: Arc::new(catalog),
                    read_at: now,
                    generation: current.generation + 1,
                });
            }
            Err(e) => tracing::warn!(error = ?e, "front door: offer not read again"),
        }
    }

    /// The site's language: what a request naming none gets without `Accept-Language`.
    pub fn default_locale(&self) -> &'static str {
        supported(&self.site.language).unwrap_or("zh-CN")
    }

    /// The page in `locale`, rendered now if what it shows changed since.
    pub fn page(&self, locale: &'static str) -> anyhow::Result<Arc<Rendered>> {
        let snap = self.now.read().expect("front door lock").clone();
        let brand = self.branding.brand(locale);
        if let Some(p) = self.pages.read().expect("front door lock").get(locale)
            && p.generation == snap.generation
            && p.brand == brand
        {
            return Ok(p.doc.clone());
        }
        let parts = Parts {
            site: &self.site,
            templates: &self.templates,
            catalog: &snap.catalog,
            base_path: &self.base_path,
            home_url: self.home_url.as_deref(),
        };
        let html = index_view::render(&parts, &snap.data, locale, &brand)?;
        let doc = Arc::new(Rendered::new(
            html.into_bytes(),
            "text/html; charset=utf-8",
            snap.data.edited,
            None,
        ));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            // Served in identity at once; the compressed forms follow.
            let d = doc.clone();
            rt.spawn_blocking(move || d.compress());
        }
        (self.pages.write().expect("front door lock")).insert(
            locale,
            Page {
                generation: snap.generation,
                brand,
                doc: doc.clone(),
            },
        );
        Ok(doc)
    }

    /// 422 for a `locale` the site does not speak, in one it does.
    fn unknown_locale(&self, headers: &HeaderMap, asked: &str) -> Response {
        let locale = choose_locale(None, headers, &self.site.language).unwrap_or("zh-CN");
        let brand = self.branding.brand(locale);
        let page =
            index_view::unknown_locale(&self.templates, &brand, locale, &self.base_path, asked);
        match page {
            Ok(html) => {
                let mut r = (StatusCode::UNPROCESSABLE_ENTITY, html).into_response();
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP),
                );
                r
            }
            Err(e) => crate::error::AppError::Internal(e).into_response(),
        }
    }
}

/// `GET`/`HEAD /`.
pub async fn front_door(State(feeds): State<Arc<FeedCache>>, req: Request) -> Response {
    let front = &feeds.front;
    let headers = req.headers();
    let asked = (req
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes())))
    .and_then(|mut pairs| pairs.find(|(k, _)| k == "locale").map(|(_, v)| v));
    let Ok(locale) = choose_locale(asked.as_deref(), headers, &feeds.site().language) else {
        return front.unknown_locale(headers, asked.as_deref().unwrap_or_default());
    };
    front.refresh_if_stale().await;
    let doc = match front.page(locale) {
        Ok(d) => d,
        Err(e) => return crate::error::AppError::Internal(e).into_response(),
    };
    let mut resp = serve::respond(&doc, headers, &feeds.cache_control);
    let h = resp.headers_mut();
    // Caches must keep one copy per language, as well as per coding.
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Accept-Language"),
    );
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(locale));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}
