//! The site's branding (site title, logo, accent colour, footer text, sender name, postal
//! address) as the console's settings page stores it in the database, over the config
//! defaults (`site.title`, the display name of `mail.from`, the templates' own footer).
//!
//! Public pages, mail and the console read it through one [`Branding`] per process: a copy in
//! memory that a save in this process replaces at once, and that is read again from the
//! database when it is older than [`FRESH_FOR`] (in the background, the reader is never
//! kept waiting), so a change saved on another replica shows there within seconds.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::{config::Config, store::Store};

/// How long a process trusts its copy before reading the settings again.
pub const FRESH_FOR: Duration = Duration::from_secs(3);

/// The languages text settings exist in.
pub const LOCALES: [&str; 2] = ["zh-CN", "en"];

/// Keys of the settings kept per language (`title.zh-CN`, …).
pub const TEXT_KEYS: [&str; 4] = ["title", "footer", "sender_name", "address"];
/// Key of the logo's URL.
pub const LOGO_KEY: &str = "logo_url";
/// Key of the accent colour (`#rrggbb`).
pub const ACCENT_KEY: &str = "accent_colour";

/// What one page or mail in one language shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// Set, or `site.title`.
    pub title: String,
    /// `None`: the templates' own footer.
    pub footer: Option<String>,
    /// `None`: the display name of `mail.from`.
    pub sender_name: Option<String>,
    /// The organisation's postal address line for the digest footer; `None`: no such line.
    pub address: Option<String>,
    pub logo_url: Option<String>,
    /// `#rrggbb`, or `None` for the templates' own red.
    pub accent: Option<String>,
}

struct Copy {
    values: Arc<BTreeMap<String, String>>,
    read_at: Instant,
    reading: bool,
}

/// The branding of this process; cheap to clone (one shared copy).
#[derive(Clone)]
pub struct Branding {
    store: Store,
    default_title: Arc<str>,
    copy: Arc<RwLock<Copy>>,
}

impl Branding {
    /// Reads the stored settings once (at start).
    pub async fn load(store: &Store, config: &Config) -> anyhow::Result<Self> {
        let values = store.site_settings().await?.into_iter().collect();
        Ok(Self {
            store: store.clone(),
            default_title: config.site.title.as_str().into(),
            copy: Arc::new(RwLock::new(Copy {
                values: Arc::new(values),
                read_at: Instant::now(),
                reading: false,
            })),
        })
    }

    /// The stored settings (`key → value`; a missing key means the config default), reading
    /// them again in the background when the copy is stale.
    pub fn values(&self) -> Arc<BTreeMap<String, String>> {
        let (values, stale) = {
            let c = self.copy.read().expect("branding lock");
            (
                c.values.clone(),
                !c.reading && c.read_at.elapsed() >= FRESH_FOR,
            )
        };
        if stale && let Ok(rt) = tokio::runtime::Handle::try_current() {
            self.copy.write().expect("branding lock").reading = true;
            let me = self.clone();
            rt.spawn(async move { me.reload().await });
        }
        values
    }

    /// Reads the settings from the database now.
    pub async fn reload(&self) {
        let read = self.store.site_settings().await;
        let mut c = self.copy.write().expect("branding lock");
        c.reading = false;
        c.read_at = Instant::now();
        match read {
            Ok(rows) => c.values = Arc::new(rows.into_iter().collect()),
            Err(e) => tracing::warn!("site settings not read again: {e:#}"),
        }
    }

    /// Replaces the copy after this process saved `values` (all of them).
    pub fn replace(&self, values: BTreeMap<String, String>) {
        let mut c = self.copy.write().expect("branding lock");
        c.values = Arc::new(values);
        c.read_at = Instant::now();
    }

    /// What pages and mail in `locale` show (an unknown locale reads as zh-CN).
    /// The logo's URL, in every language, when one is set.
    pub fn logo_url(&self) -> Option<String> {
        self.values().get(LOGO_KEY).cloned()
    }

    pub fn brand(&self, locale: &str) -> Brand {
        let locale = if locale == "en" { "en" } else { "zh-CN" };
        let v = self.values();
        let text = |key: &str| v.get(&format!("{key}.{locale}")).cloned();
        Brand {
            title: text("title").unwrap_or_else(|| self.default_title.to_string()),
            footer: text("footer"),
            sender_name: text("sender_name"),
            address: text("address"),
            logo_url: v.get(LOGO_KEY).cloned(),
            accent: v.get(ACCENT_KEY).cloned(),
        }
    }

    /// The accent colour, if one is set.
    pub fn accent(&self) -> Option<String> {
        self.values().get(ACCENT_KEY).cloned()
    }
}
