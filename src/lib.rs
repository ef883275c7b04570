//! tidings: watches published articles, serves RSS/Atom/JSON feeds per section and mails
//! subscribers digests on admin-set schedules. `App::build` is used by `main` and by tests.

pub mod admin;
pub mod api;
pub mod articles;
pub mod branding;
pub mod clock;
pub mod config;
pub mod digests;
pub mod domain;
pub mod error;
pub mod events;
pub mod feeds;
pub mod http;
pub mod inbound;
pub mod mail;
pub mod metrics;
pub mod os;
pub mod server;
pub mod store;
pub mod subscriptions;

use std::{net::SocketAddr, ops::Deref, sync::Arc};

use anyhow::Context;
use axum::extract::FromRef;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    articles::Ingest, clock::Clock, config::Config, events::Events, metrics::Metrics, store::Store,
};

/// The composition root: every part of the running service, cheap to clone. Background tasks
/// take what they need from it; handlers never see it whole, they extract their service's
/// small state through `FromRef` (`api::ApiState`, `subscriptions::PageState`, …).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared parts behind [`AppState`].
pub struct Inner {
    /// Shared, so that services' sub-states (axum `FromRef`) take it without a deep copy.
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub ingest: Ingest,
    /// Every public feed document, pre-rendered.
    pub feeds: Arc<feeds::FeedCache>,
    pub shutdown: CancellationToken,
    /// Schedules, runs and their delivery loops.
    pub digests: digests::Digests,
    /// Sends every mail (SMTP pool, .eml files or the log).
    pub mailer: mail::Mailer,
    /// Page and mail templates with their zh-CN / en strings.
    pub templates: Arc<mail::Templates>,
    /// Rate limits and the confirmation-mail queue of the subscription pages.
    pub subscriptions: subscriptions::Subscriptions,
    /// What the admin console keeps between requests.
    pub console: admin::Console,
    /// The site's title, logo, colour, footer and sender name (console settings).
    pub branding: branding::Branding,
    /// Wakes a source's poll loop at once ("check now").
    pub source_checks: articles::sources::Checks,
    /// Acts on bounces, complaints and mailto unsubscribes (SPEC §10).
    pub inbound: inbound::Processor,
}

// The small states handlers extract (axum `FromRef`); services define their own bigger ones
// (`api::ApiState`, `subscriptions::PageState`).
impl FromRef<AppState> for Store {
    fn from_ref(app: &AppState) -> Self {
        app.store.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(app: &AppState) -> Self {
        app.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<feeds::FeedCache> {
    fn from_ref(app: &AppState) -> Self {
        app.feeds.clone()
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A built application: database migrated, sections seeded, listeners bound.
pub struct App {
    state: AppState,
    listener: TcpListener,
    /// The inbound SMTP receiver's listener (`[inbound] bind`).
    inbound: Option<TcpListener>,
}

impl App {
    /// Builds the app on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Clock::System).await
    }

    /// Builds the app with the given clock (tests move a manual one).
    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Self> {
        let bind = config.server.bind;
        let inbound = inbound::receiver::bind(&config.inbound).await?;
        let state = Self::build_state(config, clock).await?;
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("bind server.bind {bind}"))?;
        Ok(Self {
            state,
            listener,
            inbound,
        })
    }

    /// Everything but the listener: for commands that work without serving HTTP.
    pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
        let store =
            Store::connect_with(&config.database.url, config.database.max_connections).await?;
        store.migrate().await?;
        store
            .ensure_sections(&config.section_seeds(), clock::to_ms(clock.now()))
            .await?;
        store
            .ensure_schedules(&config.schedule_seeds(), clock::to_ms(clock.now()))
            .await?;
        let events = Events::new();
        if let Some(pool) = store.pg_pool() {
            // Listen before the feed cache is built, so that no change is missed in between.
            events.connect_replicas(pool).await?;
        } else {
            // SQLite has no NOTIFY: follow what `tidings import` records, from now on.
            events.watch_external(&store).await?;
        }
        let metrics = Arc::new(Metrics::default());
        let mailer = mail::Mailer::shared(&config, metrics.clone(), &store, &clock)?;
        let templates = Arc::new(mail::Templates::load(&config.site.templates_dir)?);
        let subscriptions = subscriptions::Subscriptions::new(&config.subscriptions);
        let ingest = Ingest::new(
            store.clone(),
            events.clone(),
            clock.clone(),
            metrics.clone(),
        );
        let branding = branding::Branding::load(&store, &config).await?;
        let shutdown = CancellationToken::new();
        let digests = digests::Digests::new(
            &config,
            &store,
            &clock,
            mailer.clone(),
            &branding,
            &shutdown,
        )
        .await?;
        let inbound = inbound::Processor::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            inbound::Addresses::new(&config, Arc::new(store.secret("link-tokens").await?)),
            config.inbound.clone(),
        );
        let feeds = feeds::FeedCache::build(
            &config,
            store.clone(),
            clock.clone(),
            &events,
            metrics.clone(),
            (templates.clone(), branding.clone()),
        )
        .await?;
        let state = AppState(Arc::new(Inner {
            config: Arc::new(config),
            store,
            clock,
            events,
            metrics,
            ingest,
            feeds: Arc::new(feeds),
            shutdown,
            digests,
            mailer,
            templates,
            subscriptions,
            console: admin::Console::default(),
            branding,
            source_checks: articles::sources::Checks::default(),
            inbound,
        }));
        Ok(state)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// The inbound SMTP receiver's address, when `[inbound] bind` is set.
    pub fn inbound_addr(&self) -> Option<SocketAddr> {
        (self.inbound.as_ref()).and_then(|l| l.local_addr().ok())
    }

    /// Shared state, for tests and embedding.
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves HTTP and runs background work until the shutdown token fires.
    pub async fn run(self) -> anyhow::Result<()> {
        let state = self.state;
        let mut tasks = JoinSet::new();
        state.events.spawn_replication(&state.shutdown, &mut tasks);
        tasks.spawn(articles::publication::run(
            state.store.clone(),
            state.events.clone(),
            state.clock.clone(),
            state.shutdown.clone(),
        ));
        feeds::spawn(&state, &mut tasks);
        subscriptions::spawn(&state, &mut tasks);
        digests::spawn(&state, &mut tasks);
        digests::retention::spawn(&state, &mut tasks);
        articles::sources::spawn(&state, &mut tasks);
        inbound::spawn(&state, self.inbound, &mut tasks);
        let router = http::router(state.clone());
        server::serve(self.listener, router, state.clone(), state.shutdown.clone()).await;
        state.shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        state.store.close().await;
        Ok(())
    }
}
