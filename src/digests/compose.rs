//! Turning a rendered digest into a mail with the list headers of SPEC §6, and handing it to
//! the mailer.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    copy_link,
    letter::pick_locale,
    render::{DigestRenderer, Letter, Reader},
    selection::Picked,
};
use crate::{
    branding::Branding,
    domain::{self, Article, DisplayNames, Schedule, Section},
    inbound::Addresses,
    mail::{Email, Gate, Mailer, SendError},
    store::{Recipient, RunInfo},
    subscriptions::links::{derived_manage_token, subscriber_links},
};

/// A mail ready to send, with its Message-ID and the derived token whose hash must be stored
/// before the mail goes out (so its links work).
pub struct Composed {
    pub email: Email,
    pub message_id: String,
    pub token_hash: String,
    /// What the mail holds, for its web copy: the language and the article ids in mail order.
    pub locale: &'static str,
    pub articles: Vec<String>,
}

/// Builds digest mails and sends them.
pub struct Composer {
    pub renderer: DigestRenderer,
    pub mailer: Mailer,
    /// Title, logo, colour and sender name, as the console's settings say at each mail.
    pub branding: Branding,
    pub base_url: String,
    /// Where a digest's title and logo link to (`site.home_url`, else `base_url`).
    pub home_url: String,
    /// Key of the derived manage/unsubscribe tokens (shared by every process).
    pub link_secret: Arc<Vec<u8>>,
    /// Where bounces and mailto unsubscribes come back.
    pub returns: Returns,
    /// The domain of `List-Id` (see [`crate::mail::message::list_domain`]).
    pub list_domain: String,
}

/// The addresses mail comes back to, and which of them are in use (SPEC §10).
#[derive(Clone)]
pub struct Returns {
    pub addresses: Addresses,
    /// `mail.bounce_domain` is set: each delivery's envelope sender is its VERP address.
    pub verp: bool,
    /// Something reads mail sent to tidings (`[inbound]`): `List-Unsubscribe` has a mailto.
    pub mailto: bool,
}

/// One subscriber's digest, as a run (or a preview) decided it.
pub struct Request<'a> {
    /// Every section, in display order.
    pub sections: &'a [Section],
    pub names: &'a DisplayNames,
    pub recipient: &'a Recipient,
    pub run: &'a RunInfo,
    pub schedule: &'a Schedule,
    pub picked: &'a Picked<'a>,
    /// The digest's date.
    pub when: DateTime<Utc>,
    /// The delivery the mail is for, whose web copy it links to; `None` for previews and
    /// test sends, which have none.
    pub delivery: Option<i64>,
}

impl Composer {
    /// Reads the pixel sizes of the lead images of `articles` and of the logo, those not known
    /// yet (once per process; a few seconds at most the first time), so that the mail gives
    /// each picture a `width` and `height`.
    pub async fn learn_picture_sizes(&self, articles: &[&Article]) {
        let logo = self.branding.logo_url();
        let images = articles.iter().filter_map(|a| a.image.as_ref());
        (self.renderer.images)
            .learn(images.map(|i| i.url.as_str()).chain(logo.as_deref()))
            .await;
    }

    /// The VERP envelope sender of delivery `id`, when `mail.bounce_domain` is set.
    pub fn bounce_address(&self, delivery_id: i64) -> Option<String> {
        (self.returns.verp).then(|| self.returns.addresses.bounce_address(delivery_id))
    }

    /// The web copy's URL of delivery `id`.
    pub fn web_copy_url(&self, delivery_id: i64) -> String {
        copy_link::url(&self.base_url, &self.link_secret, delivery_id)
    }

    /// Composes one subscriber's digest of what the selection picked for them.
    pub fn compose(&self, q: &Request<'_>) -> anyhow::Result<Composed> {
        let r = q.recipient;
        let token = derived_manage_token(&self.link_secret, r.id, r.generation);
        let links = subscriber_links(&self.base_url, &token.text, &r.locale);
        let brand = self.branding.brand(&r.locale);
        let web_url = q.delivery.map(|id| self.web_copy_url(id));
        let letter = Letter {
            locale: &r.locale,
            brand: &brand,
            schedule: (&q.schedule.slug, &q.schedule.name),
            when: q.when,
            sections: q.sections,
            names: q.names,
            articles: q.picked.articles(),
            home_url: &self.home_url,
            reader: Reader::Mail {
                email: &r.email,
                manage_url: &links.manage_url,
                unsubscribe_url: &links.unsubscribe_url,
                web_url: web_url.as_deref(),
            },
        };
        let d = self.renderer.render(&letter)?;
        // The list's domain, so that a sender at localhost does not give `@localhost` ids.
        let domain = &self.list_domain;
        let message_id = format!("<digest.{}.{}@{domain}>", q.run.id, r.id);
        let to = domain::Email::parse(&r.email)
            .map_err(|e| anyhow::anyhow!("recipient {:?}: {e}", r.email))?;
        let list_name = list_phrase(&self.renderer.schedule_title(&letter));
        let email = Email {
            to,
            to_name: None,
            from_name: brand.sender_name,
            subject: d.subject,
            text: d.text,
            html: Some(d.html),
            headers: vec![
                (
                    "List-Id".into(),
                    format!("{list_name} <{}.{}>", q.schedule.slug, self.list_domain),
                ),
                (
                    "List-Unsubscribe".into(),
                    self.list_unsubscribe(&links.unsubscribe_url, r),
                ),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
            ],
            message_id: Some(message_id.clone()),
            envelope_from: None,
        };
        Ok(Composed {
            email,
            message_id,
            token_hash: token.hash,
            locale: pick_locale(&r.locale),
            articles: q.picked.articles().iter().map(|a| a.id.clone()).collect(),
        })
    }

    /// `List-Unsubscribe`: the one-click URL, and the mailto only when inbound mail is read
    /// (advertise nothing that does not work).
    fn list_unsubscribe(&self, url: &str, r: &Recipient) -> String {
        if self.returns.mailto {
            let mailto = self
                .returns
                .addresses
                .unsubscribe_mailto(r.id, r.generation);
            format!("<{url}>, <{mailto}>")
        } else {
            format!("<{url}>")
        }
    }

    /// Hands a mail to the mailer (which applies `mail.rate_per_second`); `gate` is asked
    /// right before the message is written.
    pub async fn send_gated(&self, email: &Email, gate: &dyn Gate) -> Result<(), SendError> {
        self.mailer.send_gated(email, gate).await.map(drop)
    }
}

/// A list's name as the phrase of `List-Id` (RFC 2919): characters that would end or quote
/// the phrase become spaces; the mailer encodes the rest (RFC 2047).
fn list_phrase(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if "()<>[]:;@\\,.\"".contains(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let phrase = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if phrase.is_empty() {
        "digest".into()
    } else {
        phrase
    }
}

#[cfg(test)]
mod tests {
    use super::list_phrase;

    #[test]
    fn list_names_lose_what_would_break_the_header_phrase() {
        assert_eq!(list_phrase("每日摘要"), "每日摘要");
        assert_eq!(list_phrase("Daily \"news\", <top>"), "Daily news top");
        assert_eq!(list_phrase(" ;; "), "digest");
    }
}
