//! Validation of everything serde cannot check; each error names its key.

use anyhow::bail;

use super::{Config, MailTransport, SourceConfig, parse_interval};
use crate::domain::{SectionSlug, TimeZone};

/// Shortest bearer token accepted: a guessable token would open the whole admin API.
pub const MIN_TOKEN_CHARS: usize = 32;

impl Config {
    /// Checks every value serde cannot; each error names its key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let base = url::Url::parse(&self.site.base_url)
            .map_err(|e| anyhow::anyhow!("site.base_url: {e}: {:?}", self.site.base_url))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            bail!("site.base_url: must be an http(s) URL with a host");
        }
        if let Some(home) = &self.site.home_url {
            let u = url::Url::parse(home)
                .map_err(|e| anyhow::anyhow!("site.home_url: {e}: {home:?}"))?;
            if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
                bail!("site.home_url: must be an http(s) URL with a host");
            }
        }
        if !matches!(self.site.language.as_str(), "zh-CN" | "en") {
            bail!(
                "site.language: {:?} is not supported (zh-CN or en)",
                self.site.language
            );
        }
        TimeZone::parse(&self.site.timezone).map_err(|e| anyhow::anyhow!("site.timezone: {e}"))?;
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            bail!("database.url: must start with sqlite:// or postgres://");
        }
        if !(1..=1000).contains(&self.database.max_connections) {
            bail!("database.max_connections: must be between 1 and 1000");
        }
        for (key, token) in [
            ("auth.admin_token", &self.auth.admin_token),
            ("auth.publisher_token", &self.auth.publisher_token),
        ] {
            if let Some(t) = token
                && t.chars().count() < MIN_TOKEN_CHARS
            {
                bail!(
                    "{key}: must be at least {MIN_TOKEN_CHARS} characters, this one has {}; \
                     make one with `openssl rand -hex 32`",
                    t.chars().count()
                );
            }
        }
        if self.mail.transport == MailTransport::Smtp {
            let Some(u) = &self.mail.smtp_url else {
                bail!("mail.smtp_url: required when mail.transport = \"smtp\"");
            };
            let parsed = url::Url::parse(u).map_err(|e| anyhow::anyhow!("mail.smtp_url: {e}"))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") {
                bail!("mail.smtp_url: scheme must be smtp or smtps");
            }
        }
        crate::domain::parse_mailbox(&self.mail.from)
            .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?;
        if self.mail.rate_per_second == 0 {
            bail!("mail.rate_per_second: must be at least 1");
        }
        if !(1..=64).contains(&self.mail.concurrency) {
            bail!("mail.concurrency: must be between 1 and 64");
        }
        self.smtp_timeouts()?;
        if let Some(d) = &self.mail.bounce_domain
            && crate::domain::Email::parse(&format!("bounces@{d}")).is_err()
        {
            bail!("mail.bounce_domain: {d:?} is not a domain name (e.g. bounce.example.org)");
        }
        if let Some(d) = &self.mail.list_domain
            && crate::domain::Email::parse(&format!("list@{d}")).is_err()
        {
            bail!("mail.list_domain: {d:?} is not a domain name (e.g. news.example.org)");
        }
        if let Some(a) = &self.feeds.id_authority
            && crate::domain::Email::parse(&format!("x@{a}")).is_err()
        {
            bail!("feeds.id_authority: {a:?} is not a domain name (e.g. example.org)");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.mail.domain_limits.iter().enumerate() {
            if crate::domain::Email::parse(&format!("x@{}", l.domain)).is_err() {
                bail!(
                    "mail.domain_limits[{i}].domain: {:?} is not a domain name",
                    l.domain
                );
            }
            if !seen.insert(l.domain.to_ascii_lowercase()) {
                bail!(
                    "mail.domain_limits[{i}].domain: {:?} is listed twice",
                    l.domain
                );
            }
            if !(1..=1_000_000).contains(&l.per_minute) {
                bail!("mail.domain_limits[{i}].per_minute: must be between 1 and 1000000");
            }
        }
        self.inbound.validate()?;
        let dkim = [
            self.mail.dkim_domain.is_some(),
            self.mail.dkim_selector.is_some(),
            self.mail.dkim_key_file.is_some(),
        ];
        if dkim.contains(&true) && dkim.contains(&false) {
            bail!("mail.dkim_domain: set dkim_domain, dkim_selector and dkim_key_file together");
        }
        let subs = &self.subscriptions;
        for (key, v) in [
            ("confirmations_per_hour", subs.confirmations_per_hour),
            ("ip_burst", subs.ip_burst),
            ("ip_per_hour", subs.ip_per_hour),
            ("ip_table_size", subs.ip_table_size),
        ] {
            if v == 0 {
                bail!("subscriptions.{key}: must be at least 1");
            }
        }
        if !(1..=1000).contains(&self.feeds.items) {
            bail!("feeds.items: must be between 1 and 1000");
        }
        if let Some(hub) = &self.feeds.websub_hub {
            let u = url::Url::parse(hub).map_err(|e| anyhow::anyhow!("feeds.websub_hub: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") {
                bail!("feeds.websub_hub: must be an http(s) URL");
            }
        }
        if !(5..=3600).contains(&self.digests.lease_seconds) {
            bail!("digests.lease_seconds: must be between 5 and 3600");
        }
        if self.digests.max_attempts == 0 {
            bail!("digests.max_attempts: must be at least 1");
        }
        if self.digests.uncertain_retry_seconds > 7 * 24 * 3600 {
            bail!("digests.uncertain_retry_seconds: must be at most 604800 (7 days)");
        }
        if self.digests.keep_days > 36_500 {
            bail!(
                "digests.keep_days: must be at most 36500 (100 years); 0 keeps deliveries forever"
            );
        }
        if self.digests.copy_keep_days > 36_500 {
            bail!(
                "digests.copy_keep_days: must be at most 36500 (100 years); 0 keeps web copies forever"
            );
        }
        self.validate_sections()?;
        self.validate_schedules()?;
        self.validate_sources()
    }

    fn validate_sections(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.sections.iter().enumerate() {
            SectionSlug::parse(&s.slug).map_err(|e| anyhow::anyhow!("sections[{i}].slug: {e}"))?;
            if !seen.insert(s.slug.as_str()) {
                bail!("sections[{i}].slug: duplicate section slug {:?}", s.slug);
            }
            if s.title.trim().is_empty() || s.title.chars().count() > 200 {
                bail!("sections[{i}].title: must be 1 to 200 characters");
            }
        }
        Ok(())
    }

    fn validate_sources(&self) -> anyhow::Result<()> {
        let known = |slug: &str| self.sections.iter().any(|s| s.slug == slug);
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let name = s.name();
            if !names.insert(name.clone()) {
                bail!("sources[{i}].name: duplicate source name {name:?}");
            }
            match s {
                SourceConfig::Directory { .. } => {}
                SourceConfig::Web {
                    section,
                    list_url,
                    interval,
                    timezone,
                    item_selector,
                    title_selector,
                    date_selector,
                    content_selector,
                    author_selector,
                    ..
                } => {
                    let selectors = [
                        ("item_selector", Some(item_selector)),
                        ("title_selector", Some(title_selector)),
                        ("date_selector", Some(date_selector)),
                        ("content_selector", Some(content_selector)),
                        ("author_selector", author_selector.as_ref()),
                    ];
                    for (key, sel) in selectors {
                        if let Some(sel) = sel {
                            super::entries::check_selector(sel)
                                .map_err(|e| anyhow::anyhow!("sources[{i}].{key}: {e}"))?;
                        }
                    }
                    if !known(section) {
                        bail!("sources[{i}].section: unknown section {section:?}");
                    }
                    check_http_url(list_url)
                        .map_err(|e| anyhow::anyhow!("sources[{i}].list_url: {e}"))?;
                    parse_interval(interval)
                        .map_err(|e| anyhow::anyhow!("sources[{i}].interval: {e}"))?;
                    if let Some(tz) = timezone {
                        TimeZone::parse(tz)
                            .map_err(|e| anyhow::anyhow!("sources[{i}].timezone: {e}"))?;
                    }
                }
                SourceConfig::Feed {
                    section,
                    url,
                    interval,
                    ..
                } => {
                    if !known(section) {
                        bail!("sources[{i}].section: unknown section {section:?}");
                    }
                    check_http_url(url).map_err(|e| anyhow::anyhow!("sources[{i}].url: {e}"))?;
                    parse_interval(interval)
                        .map_err(|e| anyhow::anyhow!("sources[{i}].interval: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

fn check_http_url(s: &str) -> anyhow::Result<()> {
    let u = url::Url::parse(s)?;
    if !matches!(u.scheme(), "http" | "https") {
        bail!("must be an http(s) URL");
    }
    Ok(())
}
