//! Turning a rendered digest into a mail with the list headers of SPEC §6, and handing it to
//! the mailer.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    render::{DigestRenderer, Masthead},
    selection::Picked,
};
use crate::{
    branding::Branding,
    domain::{self, Schedule, Section},
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
}

/// Builds digest mails and sends them.
pub struct Composer {
    pub renderer: DigestRenderer,
    pub mailer: Mailer,
    /// Title, logo, colour and sender name, as the console's settings say at each mail.
    pub branding: Branding,
    pub base_url: String,
    /// Key of the derived manage/unsubscribe tokens (shared by every process).
    pub link_secret: Arc<Vec<u8>>,
    /// Where bounces and mailto unsubscribes come back.
    pub returns: Returns,
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

impl Composer {
    /// The domain used in Message-IDs, List-Id and the unsubscribe mailto.
    pub fn mail_domain(&self) -> String {
        self.mailer.from_mailbox().email.domain().to_owned()
    }

    /// The VERP envelope sender of delivery `id`, when `mail.bounce_domain` is set.
    pub fn bounce_address(&self, delivery_id: i64) -> Option<String> {
        (self.returns.verp).then(|| self.returns.addresses.bounce_address(delivery_id))
    }

    /// Composes one subscriber's digest of what the selection picked for them.
    #[allow(clippy::too_many_arguments)]
    pub fn compose(
        &self,
        sections: &[Section],
        r: &Recipient,
        run: &RunInfo,
        schedule: &Schedule,
        picked: &Picked,
        when: DateTime<Utc>,
    ) -> anyhow::Result<Composed> {
        let token = derived_manage_token(&self.link_secret, r.id, r.generation);
        let links = subscriber_links(&self.base_url, &token.text, &r.locale);
        let brand = self.branding.brand(&r.locale);
        let d = self.renderer.render(
            &r.locale,
            &Masthead::of(&brand),
            &schedule.name,
            when,
            sections,
            picked,
            &links.manage_url,
            &links.unsubscribe_url,
        )?;
        let domain = self.mail_domain();
        let message_id = format!("<digest.{}.{}@{domain}>", run.id, r.id);
        let to = domain::Email::parse(&r.email)
            .map_err(|e| anyhow::anyhow!("recipient {:?}: {e}", r.email))?;
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
                    format!("\"{}\" <{}.{domain}>", schedule.slug, schedule.slug),
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
