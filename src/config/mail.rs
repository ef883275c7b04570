//! `[mail]` and `[mail.timeouts]`.

use std::{fmt, path::PathBuf, time::Duration};

use anyhow::bail;
use serde::Deserialize;

use super::Config;

/// Which way mail leaves the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Smtp,
    File,
    Log,
}

/// `[mail]`: transport and throttles.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: MailTransport,
    pub smtp_url: Option<String>,
    pub from: String,
    pub rate_per_second: u32,
    pub concurrency: u32,
    pub outbox_dir: PathBuf,
    /// A cap on every SMTP step below (for impatient setups and tests); unset = the
    /// per-step values of `mail.timeouts`.
    pub timeout: Option<String>,
    /// Per-step SMTP timeouts, RFC 5321 §4.5.3.2 by default.
    pub timeouts: SmtpTimeoutsConfig,
    /// DKIM signing: all three set, or none.
    pub dkim_domain: Option<String>,
    pub dkim_selector: Option<String>,
    /// RSA in PKCS#1 or PKCS#8 PEM, or Ed25519 in PKCS#8 PEM or as base64 of its 32 bytes.
    pub dkim_key_file: Option<PathBuf>,
    /// VERP: each delivery's envelope sender is `bounces+<token>@<bounce_domain>`; unset = the
    /// envelope sender is `mail.from`'s address.
    pub bounce_domain: Option<String>,
    /// Per recipient domain send limits, shared by every process of one database.
    pub domain_limits: Vec<DomainLimit>,
    /// Domain of `List-Id` (and of the mailto unsubscribe address when `bounce_domain` is
    /// unset); unset = the domain of `mail.from`, or the host of `site.base_url` when that is
    /// `localhost` or an IP address (see `crate::mail::message::list_domain`).
    pub list_domain: Option<String>,
}

/// `[[mail.domain_limits]] domain = "qq.com", per_minute = 600`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainLimit {
    pub domain: String,
    pub per_minute: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::File,
            smtp_url: None,
            from: "青海省总工会 <news@localhost>".into(),
            rate_per_second: 50,
            concurrency: 4,
            outbox_dir: PathBuf::from("data/outbox"),
            timeout: None,
            timeouts: SmtpTimeoutsConfig::default(),
            dkim_domain: None,
            dkim_selector: None,
            dkim_key_file: None,
            bounce_domain: None,
            domain_limits: Vec::new(),
            list_domain: None,
        }
    }
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let smtp = self.smtp_url.as_ref().map(|u| match url::Url::parse(u) {
            Ok(mut p) if p.password().is_some() => {
                let _ = p.set_password(Some("***"));
                p.to_string()
            }
            _ => u.clone(),
        });
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field("smtp_url", &smtp)
            .field("from", &self.from)
            .field("rate_per_second", &self.rate_per_second)
            .field("concurrency", &self.concurrency)
            .field("outbox_dir", &self.outbox_dir)
            .field("timeout", &self.timeout)
            .field("timeouts", &self.timeouts)
            .field("bounce_domain", &self.bounce_domain)
            .field("domain_limits", &self.domain_limits)
            .field("list_domain", &self.list_domain)
            .finish()
    }
}

/// `[mail.timeouts]`: how long each SMTP step may take (RFC 5321 §4.5.3.2). The reply to the
/// final "." gets 10 minutes: giving up earlier risks sending the message twice (RFC 1047).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpTimeoutsConfig {
    /// TCP connect (and the TLS handshake of `smtps://`).
    pub connect: String,
    /// The 220 greeting, and EHLO, STARTTLS and AUTH after it.
    pub greeting: String,
    pub mail: String,
    pub rcpt: String,
    /// The reply to DATA (354).
    pub data: String,
    /// Writing the message.
    pub data_block: String,
    /// The reply to the final ".".
    pub data_end: String,
}

impl Default for SmtpTimeoutsConfig {
    fn default() -> Self {
        Self {
            connect: "30s".into(),
            greeting: "5m".into(),
            mail: "5m".into(),
            rcpt: "5m".into(),
            data: "2m".into(),
            data_block: "3m".into(),
            data_end: "10m".into(),
        }
    }
}

/// [`SmtpTimeoutsConfig`] read, each step capped by `mail.timeout` when that is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpTimeouts {
    pub connect: Duration,
    pub greeting: Duration,
    pub mail: Duration,
    pub rcpt: Duration,
    pub data: Duration,
    pub data_block: Duration,
    pub data_end: Duration,
}

impl Config {
    /// The SMTP step timeouts: `mail.timeouts.*` (10 ms to 1 hour each), capped by
    /// `mail.timeout` when set.
    pub fn smtp_timeouts(&self) -> anyhow::Result<SmtpTimeouts> {
        let read = |key: &str, v: &str| -> anyhow::Result<Duration> {
            let d =
                humantime::parse_duration(v).map_err(|e| anyhow::anyhow!("{key}: {e}: {v:?}"))?;
            if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&d) {
                bail!("{key}: must be between 10ms and 1h");
            }
            Ok(d)
        };
        let cap = match &self.mail.timeout {
            Some(v) => read("mail.timeout", v)?,
            None => Duration::MAX,
        };
        let t = &self.mail.timeouts;
        let step =
            |key: &str, v: &str| read(&format!("mail.timeouts.{key}"), v).map(|d| d.min(cap));
        Ok(SmtpTimeouts {
            connect: step("connect", &t.connect)?,
            greeting: step("greeting", &t.greeting)?,
            mail: step("mail", &t.mail)?,
            rcpt: step("rcpt", &t.rcpt)?,
            data: step("data", &t.data)?,
            data_block: step("data_block", &t.data_block)?,
            data_end: step("data_end", &t.data_end)?,
        })
    }
}
