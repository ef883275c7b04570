//! Mail transport over lettre: `smtp` (pooled, every step under a timeout), `file` (.eml
//! files) and `log`. Every message goes through [`Mailer::send`], which also applies
//! `mail.rate_per_second`.

pub mod dkim;
pub mod message;
mod smtp;
mod smtp_data;
mod smtp_failure;
pub mod templates;
mod throttle;

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use futures_util::future::BoxFuture;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor, message::Mailbox};

use crate::{
    config::{Config, MailTransport},
    domain,
    metrics::Metrics,
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
    transport: Transport,
    throttle: throttle::Throttle,
    metrics: Arc<Metrics>,
    dkim: Option<lettre::message::dkim::DkimConfig>,
}

/// Sends mail the way `[mail]` says; cheap to clone, safe to share.
#[derive(Clone)]
pub struct Mailer(Arc<Inner>);

impl Mailer {
    /// Builds the configured transport; SMTP connections open on first use.
    pub fn from_config(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
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
            transport,
            throttle: throttle::Throttle::per_second(mail.rate_per_second),
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
    /// `mail.concurrency` are busy.
    pub async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        self.send_gated(email, &Open).await
    }

    /// [`Mailer::send`], asking `gate` right before the message is written.
    #[tracing::instrument(skip_all, fields(to = %email.to))]
    pub async fn send_gated(&self, email: &Email, gate: &dyn Gate) -> Result<Sent, SendError> {
        let (mut message, message_id) = message::build(&self.0.from, email)?;
        if let Some(dkim) = &self.0.dkim {
            message.sign(dkim);
        }
        self.0.throttle.wait().await;
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
                r
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

    /// Closes pooled SMTP connections politely (QUIT); other transports have none.
    pub async fn close(&self) {
        if let Transport::Smtp(pool) = &self.0.transport {
            pool.close().await;
        }
    }
}
