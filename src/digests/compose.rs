//! Turning a rendered digest into a MIME message with the list headers of SPEC §6, and
//! handing it to the mail transport.

use std::{future::Future, pin::Pin, sync::Arc};

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::{
    Message,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
};

use super::render::DigestRenderer;
use crate::{
    articles::Article,
    store::{Recipient, RunInfo, Schedule, Section},
};

/// Why a send failed, as the ledger needs to know it.
#[derive(Debug, Clone)]
pub enum SendFailure {
    /// 4xx, a dropped connection or a timeout: try again later.
    Transient(String),
    /// 5xx for the recipient: do not try again; the subscriber bounced.
    Permanent(String),
}

/// Sends one message.
pub type SendFn = Arc<
    dyn Fn(Message) -> Pin<Box<dyn Future<Output = Result<(), SendFailure>> + Send>> + Send + Sync,
>;
/// The manage and unsubscribe URLs of a subscriber.
pub type LinksFn = Arc<dyn Fn(&Recipient) -> (String, String) + Send + Sync>;

/// A message ready to send with its Message-ID.
pub struct Composed {
    pub message: Message,
    pub message_id: String,
}

/// Builds digest messages and sends them.
pub struct Composer {
    pub renderer: DigestRenderer,
    pub from: Mailbox,
    pub site_title: String,
    pub base_url: url::Url,
    pub send_fn: SendFn,
    pub links: LinksFn,
    pub dkim: Option<lettre::message::dkim::DkimConfig>,
}

impl Composer {
    /// The domain used in Message-IDs, List-Id and the unsubscribe mailto.
    pub fn mail_domain(&self) -> String {
        self.from.email.domain().to_owned()
    }

    /// Composes one subscriber's digest.
    #[allow(clippy::too_many_arguments)]
    pub fn compose(
        &self,
        sections: &[Section],
        r: &Recipient,
        run: &RunInfo,
        schedule: &Schedule,
        articles: &[Article],
        when: DateTime<Utc>,
    ) -> anyhow::Result<Composed> {
        let (manage_url, unsubscribe_url) = (self.links)(r);
        let d = self.renderer.render(
            &r.locale,
            &self.site_title,
            &schedule.name,
            when,
            sections,
            articles,
            &manage_url,
            &unsubscribe_url,
        )?;
        let domain = self.mail_domain();
        let message_id = format!("<digest.{}.{}@{domain}>", run.id, r.id);
        let to: Mailbox = r
            .email
            .parse()
            .with_context(|| format!("recipient address {:?}", r.email))?;
        let raw = |name: &'static str, value: String| {
            HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
        };
        let list_id = format!(
            "{} <{}.{}>",
            ascii_label(&schedule.name, &schedule.slug),
            schedule.slug,
            domain
        );
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(d.subject)
            .message_id(Some(message_id.clone()))
            .date_now()
            .raw_header(raw("List-Id", list_id))
            .raw_header(raw(
                "List-Unsubscribe",
                format!(
                    "<{unsubscribe_url}>, <mailto:unsubscribe@{domain}?subject=unsubscribe%20{}>",
                    r.id
                ),
            ))
            .raw_header(raw(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".into(),
            ))
            .multipart(MultiPart::alternative_plain_html(d.text, d.html))
            .context("build digest message")?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(Composed {
            message,
            message_id,
        })
    }

    /// Hands a message to the transport.
    pub async fn send(&self, message: Message) -> Result<(), SendFailure> {
        (self.send_fn)(message).await
    }
}

/// List-Id phrases must be ASCII-safe; fall back to the slug for a CJK name.
fn ascii_label(name: &str, slug: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        && !name.is_empty()
    {
        format!("\"{name}\"")
    } else {
        format!("\"{slug}\"")
    }
}
