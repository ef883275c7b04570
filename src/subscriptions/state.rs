//! What the subscription module keeps in the application ([`Subscriptions`]) and what its
//! handlers are given ([`PageState`], taken from [`AppState`] through axum's `FromRef`).

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::{Notify, mpsc};

use super::{
    limits::{Budget, ClientLimiter},
    outbox::{Job, Outbox},
};
use crate::{
    AppState,
    branding::Branding,
    clock::Clock,
    config::{Config, SubscriptionsConfig},
    mail::Templates,
    store::Store,
};

/// The subscription module's part of the application: its rate limits and the queue of
/// confirmation mails, made once at start.
pub struct Subscriptions {
    pub(super) clients: Arc<ClientLimiter>,
    pub(super) confirmations: Budget,
    pub(super) outbox: Outbox,
    /// Wakes the worker of held-back sign-ups when this process keeps one.
    pub(super) deferred: Arc<Notify>,
}

impl Subscriptions {
    /// Limits from `[subscriptions]`, an empty queue.
    pub fn new(config: &SubscriptionsConfig) -> Self {
        Self {
            clients: Arc::new(ClientLimiter::new(
                config.ip_burst,
                config.ip_per_hour,
                config.ip_table_size,
            )),
            confirmations: Budget::per_hour("confirmations", config.confirmations_per_hour),
            outbox: Outbox::default(),
            deferred: Arc::new(Notify::new()),
        }
    }
}

/// Everything the subscription pages use, and nothing else; cheap to clone (handles and
/// `Arc`s), so axum makes one per request from [`AppState`].
#[derive(Clone)]
pub struct PageState {
    /// `[site]` (language, base URL, title) and the order of `[[schedules]]`.
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    /// Page and mail templates with their zh-CN / en strings.
    pub templates: Arc<Templates>,
    /// Requests that send mail, per client address.
    pub clients: Arc<ClientLimiter>,
    /// Confirmation mails per hour, shared by every process through the database.
    pub confirmations: Budget,
    /// Where sign-ups and confirmation mails wait for the outbox worker.
    pub outbox: mpsc::Sender<Job>,
    /// Title, logo, colour and footer from the console's settings.
    pub branding: Branding,
    /// Wakes the worker of held-back sign-ups.
    pub deferred: Arc<Notify>,
}

impl FromRef<AppState> for PageState {
    fn from_ref(app: &AppState) -> Self {
        let subs = &app.subscriptions;
        Self {
            config: app.config.clone(),
            store: app.store.clone(),
            clock: app.clock.clone(),
            templates: app.templates.clone(),
            clients: subs.clients.clone(),
            confirmations: subs.confirmations.clone(),
            outbox: subs.outbox.sender.clone(),
            branding: app.branding.clone(),
            deferred: subs.deferred.clone(),
        }
    }
}
