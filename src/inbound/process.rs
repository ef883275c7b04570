//! The one processor both the SMTP receiver and the IMAP poller feed: it reads a message
//! ([`super::parse`]), finds which delivery or subscriber it is about from the tokens of our
//! addresses ([`super::addresses`]) and records what it means ([`Store::record_inbound`]).
//!
//! Only a valid token changes anything: a report that merely names an address is recorded as
//! forged or unrecognised and kept (bounded, `inbound.unrecognised_days`) for people to read.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{
    Inbound, Sink,
    addresses::{Addresses, Mailbox, Read, Token},
    parse::{self, DsnRecipient, Kind, Parsed},
    phrases,
    target::{self, Target},
};
use crate::{
    clock::{Clock, to_ms},
    config::InboundConfig,
    metrics::Metrics,
    store::{Applied, Effect, InboundEvent, Store},
};

/// What one message was taken for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// One of `metrics::INBOUND_KINDS`.
    pub kind: &'static str,
    pub subscriber_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub applied: Applied,
}

/// Reads received mail and acts on it.
#[derive(Clone)]
pub struct Processor {
    store: Store,
    clock: Clock,
    metrics: Arc<Metrics>,
    addresses: Addresses,
    config: InboundConfig,
}

impl Processor {
    pub fn new(
        store: Store,
        clock: Clock,
        metrics: Arc<Metrics>,
        addresses: Addresses,
        config: InboundConfig,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            addresses,
            config,
        }
    }

    /// The domain of the bounce and unsubscribe addresses.
    pub fn domain(&self) -> &str {
        self.addresses.domain()
    }

    /// Reads `message` and records what it means; errors are the database's (try later).
    #[tracing::instrument(skip_all, fields(via = message.via.as_str()))]
    pub async fn process(&self, message: &Inbound) -> anyhow::Result<Handled> {
        let Some(parsed) = parse::parse(&message.raw) else {
            return self
                .keep(
                    message,
                    "unrecognised",
                    "not a mail message",
                    Target::default(),
                )
                .await;
        };
        let reads: Vec<(Option<Mailbox>, Read)> = message
            .recipients
            .iter()
            .map(|r| (self.addresses.mailbox(r), self.addresses.read_address(r)))
            .collect();
        match &parsed.kind {
            Kind::AutoReply => {
                let target = target::find(&self.store, &self.addresses, &reads, &parsed).await?;
                self.record(message, "auto_reply", target, None, None, Effect::None)
                    .await
            }
            Kind::Dsn(recipients) => self.dsn(message, &reads, &parsed, recipients).await,
            Kind::Complaint { feedback_type } => {
                let target = target::find(&self.store, &self.addresses, &reads, &parsed).await?;
                if target.subscriber.is_none() {
                    return self
                        .keep(
                            message,
                            "unrecognised",
                            "a complaint about no mail of ours",
                            target,
                        )
                        .await;
                }
                self.record(
                    message,
                    "complaint",
                    target,
                    None,
                    Some(format!("feedback report: {feedback_type}")),
                    Effect::Complaint,
                )
                .await
            }
            Kind::Plain => self.plain(message, &reads, &parsed).await,
        }
    }

    async fn dsn(
        &self,
        message: &Inbound,
        reads: &[(Option<Mailbox>, Read)],
        parsed: &Parsed,
        recipients: &[DsnRecipient],
    ) -> anyhow::Result<Handled> {
        let target = target::find(&self.store, &self.addresses, reads, parsed).await?;
        if target.subscriber.is_none() {
            let why = if target.forged {
                "a DSN with a forged token"
            } else {
                "a DSN about no mail of ours"
            };
            return self.keep(message, target.unknown_kind(), why, target).await;
        }
        // The recipient group about our subscriber, else the worst one.
        let email = target.delivery.as_ref().and_then(|d| d.email.clone());
        let group = recipients
            .iter()
            .find(|r| r.recipient.is_some() && r.recipient == email)
            .or_else(|| recipients.iter().find(|r| r.action == "failed"))
            .or_else(|| recipients.iter().find(|r| r.action == "delayed"))
            .or_else(|| recipients.first());
        let Some(group) = group else {
            return self
                .keep(message, "unrecognised", "a DSN without recipients", target)
                .await;
        };
        let status = if group.status.is_empty() {
            group
                .diagnostic
                .as_deref()
                .and_then(parse::status_code)
                .unwrap_or_else(|| match group.action.as_str() {
                    "failed" => "5.0.0".into(),
                    "delayed" => "4.0.0".into(),
                    _ => "2.0.0".into(),
                })
        } else {
            group.status.clone()
        };
        let detail = group.diagnostic.clone();
        let forwarded = match (&group.recipient, &email) {
            (Some(r), Some(e)) => r != e,
            _ => false,
        };
        let (kind, effect) = match (status.as_bytes()[0], group.action.as_str()) {
            (_, "delivered" | "relayed" | "expanded") => ("notice", Effect::None),
            // A bounce for an address the subscriber forwards to says nothing about theirs.
            (b'5' | b'4', _) if forwarded => ("notice", Effect::None),
            (b'5', _) => ("hard_bounce", Effect::HardBounce),
            (b'4', _) => ("soft_bounce", self.soft_effect()),
            _ => ("notice", Effect::None),
        };
        self.record(message, kind, target, Some(status), detail, effect)
            .await
    }

    async fn plain(
        &self,
        message: &Inbound,
        reads: &[(Option<Mailbox>, Read)],
        parsed: &Parsed,
    ) -> anyhow::Result<Handled> {
        let to_unsubscribe = reads.iter().any(|(m, _)| *m == Some(Mailbox::Unsubscribe));
        let to_bounces = reads.iter().any(|(m, _)| *m == Some(Mailbox::Bounces));
        if to_unsubscribe {
            // The token of the address, else the one the mailto put in the subject.
            let mut found: Vec<Read> = reads
                .iter()
                .filter(|(m, _)| *m == Some(Mailbox::Unsubscribe))
                .map(|(_, r)| *r)
                .collect();
            found.extend(self.addresses.tokens_in(&parsed.subject));
            let subscriber = found.iter().find_map(|r| match r {
                Read::Ours(Token::Subscriber { id, generation }) => Some((*id, *generation)),
                _ => None,
            });
            let forged = found.contains(&Read::Forged);
            return match subscriber {
                Some((id, generation)) => {
                    let target = Target {
                        subscriber: Some(id),
                        ..Target::default()
                    };
                    self.record(
                        message,
                        "unsubscribe",
                        target,
                        None,
                        Some("mailto unsubscribe".into()),
                        Effect::Unsubscribe { generation },
                    )
                    .await
                }
                None => {
                    let target = Target {
                        forged,
                        ..Target::default()
                    };
                    let why = if forged {
                        "an unsubscribe request with a forged token"
                    } else {
                        "an unsubscribe request without a token"
                    };
                    self.keep(message, target.unknown_kind(), why, target).await
                }
            };
        }
        let target = target::find(&self.store, &self.addresses, reads, parsed).await?;
        let verdict = (to_bounces
            && target.subscriber.is_some()
            && phrases::looks_like_bounce(parsed.from.as_deref(), &parsed.subject))
        .then(|| phrases::classify(&parsed.subject, &parsed.text))
        .flatten();
        match verdict {
            Some(v) => {
                let (kind, effect) = if v.status.starts_with('5') {
                    ("hard_bounce", Effect::HardBounce)
                } else {
                    ("soft_bounce", self.soft_effect())
                };
                self.record(message, kind, target, Some(v.status), Some(v.why), effect)
                    .await
            }
            None => {
                let why = if target.subscriber.is_some() {
                    "mail to a bounce address that says nothing known"
                } else {
                    "mail that is not a report"
                };
                self.keep(message, target.unknown_kind(), why, target).await
            }
        }
    }

    fn soft_effect(&self) -> Effect {
        let days = i64::from(self.config.soft_bounce_days);
        Effect::SoftBounce {
            limit: self.config.soft_bounce_limit,
            since_ms: to_ms(self.clock.now()) - days * 86_400_000,
        }
    }

    /// Keeps a message nobody could act on (bounded in number and age).
    async fn keep(
        &self,
        message: &Inbound,
        kind: &'static str,
        why: &str,
        target: Target,
    ) -> anyhow::Result<Handled> {
        tracing::info!(kind, why, bytes = message.raw.len(), "received mail kept");
        self.store_event(
            message,
            kind,
            target,
            None,
            Some(why.into()),
            Effect::None,
            true,
        )
        .await
    }

    async fn record(
        &self,
        message: &Inbound,
        kind: &'static str,
        target: Target,
        status: Option<String>,
        detail: Option<String>,
        effect: Effect,
    ) -> anyhow::Result<Handled> {
        self.store_event(message, kind, target, status, detail, effect, false)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_event(
        &self,
        message: &Inbound,
        kind: &'static str,
        target: Target,
        status: Option<String>,
        detail: Option<String>,
        effect: Effect,
        keep_raw: bool,
    ) -> anyhow::Result<Handled> {
        let delivery_id = target.delivery.as_ref().map(|d| d.id);
        let event = InboundEvent {
            received_at: to_ms(self.clock.now()),
            via: message.via.as_str().into(),
            kind: kind.into(),
            subscriber_id: target.subscriber,
            delivery_id,
            status,
            detail: detail.map(|d| d.chars().take(1000).collect()),
            raw: keep_raw.then(|| message.raw.clone()),
        };
        let applied = self
            .store
            .record_inbound(&event, effect, self.config.unrecognised_max)
            .await?;
        self.metrics.count_inbound(kind);
        tracing::info!(
            kind,
            subscriber_id = target.subscriber,
            delivery_id,
            suppressed = applied.suppressed,
            unsubscribed = applied.unsubscribed,
            "received mail processed"
        );
        Ok(Handled {
            kind,
            subscriber_id: target.subscriber,
            delivery_id,
            applied,
        })
    }
}

impl Sink for Processor {
    fn accepts(&self, address: &str) -> bool {
        self.addresses.mailbox(address).is_some()
    }

    fn deliver(&self, message: Inbound) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move { self.process(&message).await.map(drop) })
    }
}
