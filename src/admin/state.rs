//! What the console keeps in the application ([`Console`]) and what its handlers are given
//! ([`ConsoleState`], taken from [`AppState`] through axum's `FromRef`).

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::Semaphore;

use crate::{
    AppState, branding::Branding, clock::Clock, config::Config, mail::Templates, store::Store,
};

/// Password checks that may run at once: each Argon2id verification takes 19 MiB and tens of
/// milliseconds of a core, so a flood of logins waits here instead of exhausting the machine.
const HASHING_AT_ONCE: usize = 2;

/// The console's part of the application, made once at start.
#[derive(Clone)]
pub struct Console {
    pub(super) hashing: Arc<Semaphore>,
    /// The dashboard's growth chart before today, kept a few minutes.
    pub(super) growth: Arc<crate::store::GrowthHistory>,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            hashing: Arc::new(Semaphore::new(HASHING_AT_ONCE)),
            growth: Arc::default(),
        }
    }
}

/// Everything the console's handlers use; cheap to clone.
#[derive(Clone)]
pub struct ConsoleState {
    /// `[site]` (title, base URL, language, time zone) and the configured sources.
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    /// The console's templates and strings live with the public pages'.
    pub templates: Arc<Templates>,
    pub(super) hashing: Arc<Semaphore>,
    pub(super) growth: Arc<crate::store::GrowthHistory>,
    /// The site's title and colours from the settings page (over `[site]`).
    pub branding: Branding,
}

impl FromRef<AppState> for ConsoleState {
    fn from_ref(app: &AppState) -> Self {
        Self {
            config: app.config.clone(),
            store: app.store.clone(),
            clock: app.clock.clone(),
            templates: app.templates.clone(),
            hashing: app.console.hashing.clone(),
            growth: app.console.growth.clone(),
            branding: app.branding.clone(),
        }
    }
}

impl ConsoleState {
    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        crate::clock::to_ms(self.clock.now())
    }

    /// The path prefix of `site.base_url` (empty at the root).
    pub fn base_path(&self) -> String {
        url::Url::parse(&self.config.site.base_url)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    /// Where the console lives on this site: `{base_path}/admin`.
    pub fn admin_path(&self) -> String {
        format!("{}/admin", self.base_path())
    }

    /// Cookies are `Secure` when the site is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.config.site.base_url.starts_with("https://")
    }
}

impl ConsoleState {
    /// The console's state taken from the application's.
    pub fn from_app(app: &AppState) -> Self {
        <Self as FromRef<AppState>>::from_ref(app)
    }
}
