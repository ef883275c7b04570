//! `[inbound]`: where bounces, complaints and mailto unsubscribes come in (SPEC §10).

use std::{fmt, net::SocketAddr};

use anyhow::bail;
use serde::Deserialize;

use super::parse_interval;

/// `[inbound]`: the built-in SMTP receiver and the IMAP poller, both off unless set.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Listen address of the built-in SMTP receiver (e.g. `0.0.0.0:2525`); unset = none.
    pub bind: Option<SocketAddr>,
    /// `imaps://user:password@host:993`, or `imap://user:password@host:143` (STARTTLS
    /// required; `?tls=opportunistic` or `?tls=none` to allow less); unset = no poller.
    pub imap_url: Option<String>,
    /// The mailbox folder the poller reads.
    pub folder: String,
    /// How often the poller looks (`"60s"`, `"5m"`).
    pub interval: String,
    /// Largest message the receiver takes (bytes); a DSN carries the original's headers.
    pub max_message_bytes: usize,
    /// Messages one client address may hand the receiver per minute.
    pub per_ip_per_minute: u32,
    /// Connections the receiver serves at once (more are answered 421 and closed).
    pub max_connections: u32,
    /// Soft bounces (4.x.x DSNs) of one subscriber within `soft_bounce_days` that suppress them.
    pub soft_bounce_limit: u32,
    pub soft_bounce_days: u32,
    /// Unrecognised mail is kept this many days (and at most `unrecognised_max` messages).
    pub unrecognised_days: u32,
    pub unrecognised_max: u32,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            bind: None,
            imap_url: None,
            folder: "INBOX".into(),
            interval: "60s".into(),
            max_message_bytes: 2 * 1024 * 1024,
            per_ip_per_minute: 120,
            max_connections: 64,
            soft_bounce_limit: 3,
            soft_bounce_days: 14,
            unrecognised_days: 30,
            unrecognised_max: 10_000,
        }
    }
}

impl fmt::Debug for InboundConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let imap = self.imap_url.as_ref().map(|u| match url::Url::parse(u) {
            Ok(mut p) if p.password().is_some() => {
                let _ = p.set_password(Some("***"));
                p.to_string()
            }
            _ => u.clone(),
        });
        f.debug_struct("InboundConfig")
            .field("bind", &self.bind)
            .field("imap_url", &imap)
            .field("folder", &self.folder)
            .field("interval", &self.interval)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("per_ip_per_minute", &self.per_ip_per_minute)
            .field("max_connections", &self.max_connections)
            .field("soft_bounce_limit", &self.soft_bounce_limit)
            .field("soft_bounce_days", &self.soft_bounce_days)
            .field("unrecognised_days", &self.unrecognised_days)
            .field("unrecognised_max", &self.unrecognised_max)
            .finish()
    }
}

impl InboundConfig {
    /// Whether anything reads mail sent to tidings (then List-Unsubscribe carries a mailto).
    pub fn enabled(&self) -> bool {
        self.bind.is_some() || self.imap_url.is_some()
    }

    /// Checks the values serde cannot; each error names its key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(u) = &self.imap_url {
            let p = url::Url::parse(u).map_err(|e| anyhow::anyhow!("inbound.imap_url: {e}"))?;
            if !matches!(p.scheme(), "imap" | "imaps") || p.host().is_none() {
                bail!("inbound.imap_url: must be imap://user:pass@host or imaps://user:pass@host");
            }
            if p.username().is_empty() {
                bail!("inbound.imap_url: needs a user name (imaps://user:password@host)");
            }
        }
        if self.folder.trim().is_empty() {
            bail!("inbound.folder: must not be empty");
        }
        parse_interval(&self.interval).map_err(|e| anyhow::anyhow!("inbound.interval: {e}"))?;
        if !(4096..=64 * 1024 * 1024).contains(&self.max_message_bytes) {
            bail!("inbound.max_message_bytes: must be between 4096 and 67108864");
        }
        if self.per_ip_per_minute == 0 {
            bail!("inbound.per_ip_per_minute: must be at least 1");
        }
        if !(1..=10_000).contains(&self.max_connections) {
            bail!("inbound.max_connections: must be between 1 and 10000");
        }
        if self.soft_bounce_limit == 0 || self.soft_bounce_days == 0 {
            bail!("inbound.soft_bounce_limit and inbound.soft_bounce_days: must be at least 1");
        }
        if self.unrecognised_days == 0 || self.unrecognised_max == 0 {
            bail!("inbound.unrecognised_days and inbound.unrecognised_max: must be at least 1");
        }
        Ok(())
    }
}
