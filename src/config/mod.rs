//! Typed configuration: `config/default.toml` (or `--config`), then `TIDINGS_…__…`
//! environment overrides; validated once at start-up with errors that name the key.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
mod entries;
mod inbound;
mod mail;
mod proxies;
mod validate;
mod validate_schedules;

pub use entries::{ScheduleConfig, SectionConfig, SourceConfig};
use entries::{default_schedules, default_sections};
pub use inbound::InboundConfig;
pub use mail::{DomainLimit, MailConfig, MailTransport, SmtpTimeouts, SmtpTimeoutsConfig};
pub use proxies::{IpRange, client_address};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::{Deserialize, Deserializer};

use crate::domain::TimeZone;

/// Path used when neither `--config` nor `TIDINGS_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

/// The whole configuration, as SPEC §2 names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub site: SiteConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub mail: MailConfig,
    #[serde(default)]
    pub feeds: FeedsConfig,
    #[serde(default)]
    pub digests: DigestsConfig,
    #[serde(default)]
    pub subscriptions: SubscriptionsConfig,
    #[serde(default)]
    pub inbound: InboundConfig,
    #[serde(default = "default_sections")]
    pub sections: Vec<SectionConfig>,
    #[serde(default = "default_schedules")]
    pub schedules: Vec<ScheduleConfig>,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

/// `[site]`: who publishes and how people see dates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    pub title: String,
    pub base_url: String,
    pub language: String,
    pub timezone: String,
    /// Folder of the page and mail templates admins may edit.
    pub templates_dir: PathBuf,
    /// The organisation's own site (feeds' channel link, the front door's home link);
    /// `None`: `base_url`.
    pub home_url: Option<String>,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            title: "青海省总工会".into(),
            base_url: "http://127.0.0.1:8080".into(),
            language: "zh-CN".into(),
            timezone: "Asia/Shanghai".into(),
            templates_dir: PathBuf::from("config/templates"),
            home_url: None,
        }
    }
}

/// `[server]`: where to listen.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// Reverse proxies whose `X-Forwarded-For` names the client (empty: the peer is).
    pub trusted_proxies: Vec<IpRange>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().expect("literal address"),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[database]`: `sqlite://PATH` or `postgres://…`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
    /// Connections per process (PostgreSQL; SQLite readers).
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/tidings.db".into(),
            max_connections: 16,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A PostgreSQL URL may carry a password.
        let shown = match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => self.url.clone(),
        };
        f.debug_struct("DatabaseConfig")
            .field("url", &shown)
            .finish()
    }
}

/// `[auth]`: bearer tokens; unset means that API answers 401.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    #[serde(deserialize_with = "lenient_opt_string")]
    pub admin_token: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub publisher_token: Option<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |t: &Option<String>| t.as_ref().map(|_| "***");
        f.debug_struct("AuthConfig")
            .field("admin_token", &mask(&self.admin_token))
            .field("publisher_token", &mask(&self.publisher_token))
            .finish()
    }
}

/// `[feeds]`: size and caching of the public feeds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsConfig {
    pub items: u32,
    pub max_age_seconds: u32,
    pub websub_hub: Option<String>,
    /// The `tag:` authority of item ids, taken once at first start (stored in the database);
    /// `None`: the host of `site.base_url` at that first start.
    pub id_authority: Option<String>,
}

impl Default for FeedsConfig {
    fn default() -> Self {
        Self {
            items: 50,
            max_age_seconds: 300,
            websub_hub: None,
            id_authority: None,
        }
    }
}

/// `[digests]`: catch-up window and retry budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestsConfig {
    pub catch_up_hours: u32,
    pub max_attempts: u32,
    /// How long a worker holds the deliveries it claimed; after a crash, another process
    /// takes them over once this has passed.
    pub lease_seconds: u32,
    /// A delivery with no answer after the final "." (or whose sender stopped in the middle of
    /// the SMTP transaction) is retried once after this many seconds; 0 = never retried.
    pub uncertain_retry_seconds: u32,
    /// Deliveries of runs that finished more than this many days ago are deleted (the runs
    /// and their figures stay); 0 = kept forever.
    pub keep_days: u32,
    /// Web copies ("view in browser") of runs that finished more than this many days ago are
    /// deleted; 0 = kept forever (while the person is not erased).
    pub copy_keep_days: u32,
    /// Subscribers a run plans per transaction (each chunk commits, and is sent, on its own).
    pub plan_chunk: u32,
}

impl Default for DigestsConfig {
    fn default() -> Self {
        Self {
            catch_up_hours: 12,
            max_attempts: 5,
            lease_seconds: 120,
            uncertain_retry_seconds: 600,
            keep_days: 90,
            copy_keep_days: 365,
            plan_chunk: 10_000,
        }
    }
}

/// `[subscriptions]`: abuse limits of the public subscription endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionsConfig {
    /// Confirmation mails sent per hour, all addresses and all processes of the database together.
    pub confirmations_per_hour: u32,
    /// `POST /subscribe` requests one client address may make at once...
    pub ip_burst: u32,
    /// ...and per hour after that.
    pub ip_per_hour: u32,
    /// Client addresses remembered by the rate limiter (bounds its memory).
    pub ip_table_size: u32,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self {
            confirmations_per_hour: 1000,
            ip_burst: 10,
            ip_per_hour: 60,
            ip_table_size: 100_000,
        }
    }
}

/// Accepts a string, or a number/bool that an environment variable was parsed into.
fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        I(i64),
        U(u64),
        F(f64),
        B(bool),
    }
    Ok(Option::<Raw>::deserialize(d)?.and_then(|r| {
        let s = match r {
            Raw::S(s) => s,
            Raw::I(i) => i.to_string(),
            Raw::U(u) => u.to_string(),
            Raw::F(f) => f.to_string(),
            Raw::B(b) => b.to_string(),
        };
        (!s.is_empty()).then_some(s)
    }))
}

impl Config {
    /// The configured sections, in file order, as they seed the database on first start.
    pub fn section_seeds(&self) -> Vec<crate::domain::Section> {
        (self.sections.iter().enumerate())
            .map(|(i, s)| s.section(i))
            .collect()
    }

    /// The configured schedules as `(slug, fields)`, as they seed the database.
    pub fn schedule_seeds(&self) -> Vec<(String, crate::domain::ScheduleFields)> {
        (self.schedules.iter())
            .map(|s| {
                let fields = s.fields(&self.site.timezone, &self.site.language);
                (s.slug.clone(), fields)
            })
            .collect()
    }

    /// Reads the file at `path` (must exist), applies `TIDINGS_` overrides and validates.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            bail!("configuration file {} does not exist", path.display());
        }
        Self::from_figment(Figment::new().merge(Toml::file(path)))
            .with_context(|| format!("invalid configuration ({})", path.display()))
    }

    /// Built-in defaults plus `TIDINGS_` overrides, without a file.
    pub fn from_env_only() -> anyhow::Result<Self> {
        Self::from_figment(Figment::new())
    }

    /// Parses a TOML string (no environment); used by tests and `check`.
    pub fn from_toml_str(toml: &str) -> anyhow::Result<Self> {
        let config: Config = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(figment_error)?;
        config.validate()?;
        Ok(config)
    }

    fn from_figment(fig: Figment) -> anyhow::Result<Self> {
        let env = Env::prefixed("TIDINGS_")
            .filter(|k| {
                // Process-level variables that are not configuration keys. Keys keep the
                // environment's case (TIDINGS_TEST_… arrives as "TEST_…").
                let k = k.as_str().to_ascii_lowercase();
                !(k == "config" || k == "log" || k.starts_with("test_"))
            })
            .split("__");
        let config: Config = fig.merge(env).extract().map_err(figment_error)?;
        config.validate()?;
        Ok(config)
    }

    /// `site.timezone` as a zone (validated at load).
    pub fn site_timezone(&self) -> TimeZone {
        TimeZone::parse(&self.site.timezone).expect("validated at load")
    }
}

/// Parses durations such as `"10m"`, `"30s"`, `"1h 30m"`; at least one second.
pub fn parse_interval(s: &str) -> anyhow::Result<Duration> {
    let d = humantime::parse_duration(s).map_err(|e| anyhow::anyhow!("{e}: {s:?}"))?;
    if d < Duration::from_secs(1) {
        bail!("must be at least 1s");
    }
    Ok(d)
}

/// Turns figment's error into one line per problem, each naming the key.
fn figment_error(e: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = e
        .into_iter()
        .map(|err| {
            let key = err.path.join(".");
            let origin = err
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{origin}", err.kind)
            } else {
                format!("{key}: {}{origin}", err.kind)
            }
        })
        .collect();
    anyhow::anyhow!(lines.join("; "))
}
