//! Mail transport over lettre: `smtp` (pooled, every step under a timeout), `file` (.eml
//! files) and `log`. Every message goes through [`Mailer::send`] or [`Mailer::send_gated`],
//! which also apply `[[mail.domain_limits]]` and `mail.rate_per_second` (shared by every
//! process of the database with [`Mailer::shared`]; see `throttle`).

pub mod dkim;
pub mod message;
mod smtp;
mod smtp_data;
mod smtp_failure;
pub mod templates;
mod throttle;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::future::BoxFuture;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor, message::Mailbox};

use crate::{
    clock::Clock,
    config::{Config, MailTransport},
    domain,
    metrics::Metrics,
    store::Store,
};

pub use message::one_line;
pub use templates::Templates;

/// One message to one person. Text fields may hold anything: line breaks never reach a
/// header, and non-ASCII names and subjects are encoded per RFC 2047.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: domain::Email,
    pub to_name: Option<String>,
    /// The sender's display name instead of the one of `mail.from` (the console's "sender
    /// name" setting); the address stays `mail.from`'s.
    pub from_name: Option<String>,
    pub subject: String,
    /// The plain-text part (always present).
    pub text: String,
    /// With an HTML part the message is multipart/alternative.
    pub html: Option<String>,
    /// Extra headers such as `List-Unsubscribe`; the mailer's own (From, To, Subject, Date,
    /// Message-ID, MIME) cannot be set here.
    pub headers: Vec<(String, String)>,
    /// `<id@domain>`; generated when `None`. Keep it across retries of one delivery.
    pub message_id: Option<String>,
    /// The envelope sender (SMTP `MAIL FROM`, the `Return-Path` receivers keep) instead of
    /// `mail.from`'s address: the VERP address bounces of this one message come back to.
    pub envelope_from: Option<String>,
}

/// A message the transport accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
}

/// Why a message was not sent, in the terms a retry policy needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later: a 4xx reply, a dropped connection, a timeout, a refused sender, a
    /// full disk for the file transport.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused this recipient or this message for good (5xx to RCPT or DATA).
    #[error("permanent failure {code}: {message}")]
    Permanent { code: u16, message: String },
    /// The message itself is malformed (a reserved or invalid extra header); do not retry.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The relay could not be reached or refused service (connecting failed, no greeting, a
    /// 421, the session broke before the message): nothing was said about this message.
    #[error("mail relay unavailable: {0}")]
    RelayDown(String),
    /// The whole message was written but no reply to the final "." came (timeout or dropped
    /// connection): it may have been delivered.
    #[error("no answer after the end of data: {0}")]
    Uncertain(String),
    /// The [`Gate`] said no before the message was written: nothing was delivered.
    #[error("not sent: stopped before the message was written")]
    NotSent,
    /// Held back by the recipient domain's limit (`[[mail.domain_limits]]`), or by its
    /// cool-down after it deferred our mail (a 421): nothing was written. Try again after
    /// `retry_after`; the relay is fine and the message is not at fault.
    #[error("not sent: mail to {domain} held back for {:.1} s ({reason})", .retry_after.as_secs_f64())]
    Deferred {
        domain: String,
        retry_after: Duration,
        reason: String,
    },
}

impl From<throttle::Held> for SendError {
    fn from(h: throttle::Held) -> Self {
        SendError::Deferred {
            domain: h.domain,
            retry_after: h.retry_after,
            reason: h.reason,
        }
    }
}

/// Lets the caller of [`Mailer::send_gated`] call a send off at two moments.
pub trait Gate: Sync {
    /// Once the message may go (after the rate limit), before the transport is used: the
    /// moment to take the decision to send (the delivery ledger commits its intent here, so
    /// that a send waiting for its turn is never taken for one on the wire). `false` calls
    /// the send off ([`SendError::NotSent`]).
    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }

    /// Right before the transport writes the message (and, for SMTP, its final "."): the
    /// last moment a send can be called off with nothing delivered.
    fn before_data(&self) -> bool;
}

/// A gate that always lets the message through.
pub struct Open;

impl Gate for Open {
    fn before_data(&self) -> bool {
        true
    }
}

enum Transport {
    Smtp(Box<smtp::SmtpPool>),
    File(AsyncFileTransport<Tokio1Executor>),
    Log,
}

struct Inner {
    from: Mailbox,
    /// Domain of generated Message-IDs: the list's ([`message::list_domain`]), never the
    /// `localhost` of a default sender when the site has a real name.
    id_domain: String,
    transport: Transport,
    rate: throttle::Rate,
    domains: throttle::DomainLimits,
    metrics: Arc<Metrics>,
    dkim: Option<lettre::message::dkim::DkimConfig>,
}

/// Sends mail the way `[mail]` says; cheap to clone, safe to share.
#[derive(Clone)]
pub struct Mailer(Arc<Inner>);

impl Mailer {
    /// Builds the configured transport; SMTP connections open on first use. The rates are
    /// this process's own: for tools and tests with no database.
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let rate =
            throttle::Rate::Local(throttle::Throttle::per_second(config.mail.rate_per_second));
        let domains =
            throttle::DomainLimits::new(&config.mail, None, Clock::System, metrics.clone());
        Self::build(config, metrics, rate, domains)
    }

    /// Like [`Mailer::from_config`], with `mail.rate_per_second` and `[[mail.domain_limits]]`
    /// shared by every process of `store`'s database. Domain limits read `clock` when it is a
    /// manual one (tests), else the database's clock.
    pub fn shared(
        config: &Config,
        metrics: Arc<Metrics>,
        store: &Store,
        clock: &Clock,
    ) -> anyhow::Result<Self> {
        let rate = throttle::Rate::Shared(throttle::SharedRate::per_second(
            store.clone(),
            config.mail.rate_per_second,
        ));
        let domains = throttle::DomainLimits::new(
            &config.mail,
            Some(store.clone()),
            clock.clone(),
            metrics.clone(),
        );
        Self::build(config, metrics, rate, domains)
    }

    fn build(
        config: &Config,
        metrics: Arc<Metrics>,
        rate: throttle::Rate,
        domains: throttle::DomainLimits,
    ) -> anyhow::Result<Self> {
        let mail = &config.mail;
        let (name, addr) = domain::parse_mailbox(&mail.from).map_err(anyhow::Error::msg)?;
        let from = Mailbox::new(
            name.map(|n| one_line(&n)),
            addr.parse().context("mail.from: not a valid address")?,
        );
        let transport = match mail.transport {
            MailTransport::Smtp => {
                let url = mail
                    .smtp_url
                    .as_deref()
                    .context("mail.smtp_url is required")?;
                Transport::Smtp(Box::new(smtp::SmtpPool::new(
                    url,
                    mail.concurrency,
                    config.smtp_timeouts()?,
                )?))
            }
            MailTransport::File => {
                std::fs::create_dir_all(&mail.outbox_dir).with_context(|| {
                    format!("create mail.outbox_dir {}", mail.outbox_dir.display())
                })?;
                Transport::File(AsyncFileTransport::new(&mail.outbox_dir))
            }
            MailTransport::Log => Transport::Log,
        };
        Ok(Self(Arc::new(Inner {
            from,
            id_domain: message::list_domain(config),
            transport,
            rate,
            domains,
            metrics,
            dkim: dkim::from_config(mail)?,
        })))
    }

    /// The sender every message carries (`mail.from`).
    pub fn from_mailbox(&self) -> &Mailbox {
        &self.0.from
    }

    /// Builds, throttles and sends one message. With `smtp`, each step is bounded by its
    /// `mail.timeouts` value; a sender waits for a free connection when all
    /// `mail.concurrency` are busy. A message to a limited domain waits for its domain's
    /// slot, however far (mail outside the delivery ledger is rare: confirmations, tests).
    pub async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        self.send_with(email, &Open, throttle::Patience::Wait).await
    }

    /// [`Mailer::send`], asking `gate` right before the message is written. A message to a
    /// limited domain whose slot is more than a moment away is not sent:
    /// [`SendError::Deferred`] says when its turn should come.
    pub async fn send_gated(&self, email: &Email, gate: &dyn Gate) -> Result<Sent, SendError> {
        self.send_with(email, gate, throttle::Patience::Moment)
            .await
    }

    #[tracing::instrument(skip_all, fields(to = %email.to))]
    async fn send_with(
        &self,
        email: &Email,
        gate: &dyn Gate,
        patience: throttle::Patience,
    ) -> Result<Sent, SendError> {
        let (mut message, message_id) = message::build(&self.0.from, &self.0.id_domain, email)?;
        if let Some(dkim) = &self.0.dkim {
            message.sign(dkim);
        }
        // The domain first: a message held back by it takes no slot of the global rate.
        self.0.domains.admit(&email.to, patience).await?;
        self.0.rate.wait().await;
        if !gate.ready().await {
            return Err(SendError::NotSent);
        }
        let started = Instant::now();
        let result = match &self.0.transport {
            Transport::Smtp(pool) => {
                let r = pool
                    .send(message.envelope(), &message.formatted(), gate)
                    .await;
                self.0.metrics.observe_smtp(started.elapsed());
                self.answered(&email.to, r).await
            }
            Transport::File(_) | Transport::Log if !gate.before_data() => Err(SendError::NotSent),
            Transport::File(t) => t
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError::Transient(format!("cannot write the .eml file: {e}"))),
            Transport::Log => {
                tracing::info!(
                    to = %email.to,
                    subject = %one_line(&email.subject),
                    message_id = %message_id,
                    text = %email.text,
                    "mail (log transport)"
                );
                Ok(())
            }
        };
        match &result {
            Ok(()) => tracing::debug!(%message_id, "mail sent"),
            // The caller decides what a failure means and logs it once (a relay outage must
            // not become one warning per message).
            Err(e) => tracing::debug!(error = %e, "mail not sent"),
        }
        result.map(|()| Sent { message_id })
    }

    /// What the SMTP answer means for the recipient's domain when it is limited: a 4xx about
    /// the message slows the domain down for every process (a 421, which is about the
    /// service rather than this recipient, becomes [`SendError::Deferred`]: no attempt spent,
    /// no relay outage); a success ends a run of deferrals.
    async fn answered(
        &self,
        to: &domain::Email,
        result: Result<(), (SendError, Option<u16>)>,
    ) -> Result<(), SendError> {
        match result {
            Ok(()) => {
                self.0.domains.accepted(to).await;
                Ok(())
            }
            Err((e, Some(code))) => {
                let reply = e.to_string();
                match self.0.domains.slowed(to, &reply).await {
                    Some(retry_after) if code == 421 => Err(SendError::Deferred {
                        domain: to.as_str().rsplit_once('@').map_or("", |d| d.1).to_owned(),
                        retry_after,
                        reason: format!("it deferred our mail: {reply}"),
                    }),
                    _ => Err(e),
                }
            }
            Err((e, None)) => Err(e),
        }
    }

    /// Closes pooled SMTP connections politely (QUIT), and gives back send slots reserved and
    /// not used.
    pub async fn close(&self) {
        self.0.rate.close().await;
        if let Transport::Smtp(pool) = &self.0.transport {
            pool.close().await;
        }
    }
}
