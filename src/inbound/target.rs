//! Who a returned report is about: the VERP token it was sent to, else a token of ours in
//! the returned headers or text, with the run read from our own Message-ID
//! `<digest.RUN.SUBSCRIBER@domain>` (as `digests::compose` makes it).

use super::{
    addresses::{Addresses, Mailbox, Read, Token},
    parse::Parsed,
};
use crate::store::{DeliveryRef, Store};

/// Who a report is about, as far as its tokens tell.
#[derive(Debug, Default)]
pub(super) struct Target {
    pub(super) delivery: Option<DeliveryRef>,
    pub(super) subscriber: Option<i64>,
    /// A token of ours with a wrong MAC was seen.
    pub(super) forged: bool,
}

impl Target {
    /// `forged` when a token of ours had a wrong MAC, else `unrecognised`.
    pub(super) fn unknown_kind(&self) -> &'static str {
        if self.forged {
            "forged"
        } else {
            "unrecognised"
        }
    }
}

/// The delivery and subscriber a report is about: the VERP token it was sent to, else a
/// token of ours in the returned headers or the text (with the run from the returned
/// Message-ID `<digest.RUN.SUBSCRIBER@…>`).
pub(super) async fn find(
    store: &Store,
    addresses: &Addresses,
    reads: &[(Option<Mailbox>, Read)],
    parsed: &Parsed,
) -> anyhow::Result<Target> {
    let mut found: Vec<Read> = reads.iter().map(|(_, r)| *r).collect();
    found.extend(addresses.tokens_in(&parsed.original_headers));
    found.extend(addresses.tokens_in(&parsed.text));
    let mut target = Target {
        forged: found.contains(&Read::Forged),
        ..Target::default()
    };
    for read in &found {
        if let Read::Ours(Token::Delivery(id)) = read
            && let Some(d) = store.inbound_delivery(*id).await?
        {
            target.subscriber = Some(d.subscriber_id);
            target.delivery = Some(d);
            return Ok(target);
        }
    }
    let subscriber = found.iter().find_map(|r| match r {
        Read::Ours(Token::Subscriber { id, .. }) => Some(*id),
        _ => None,
    });
    if let Some(id) = subscriber {
        target.subscriber = Some(id);
        if let Some(run) = digest_run(&parsed.original_headers, id) {
            target.delivery = store.inbound_delivery_of(run, id).await?;
        }
    }
    Ok(target)
}

/// The run id of a digest's Message-ID `<digest.RUN.SUBSCRIBER@domain>` in returned headers,
/// when it is the mail of `subscriber`.
fn digest_run(headers: &str, subscriber: i64) -> Option<i64> {
    let at = headers.to_ascii_lowercase().find("<digest.")?;
    let rest = &headers[at + "<digest.".len()..];
    let id = rest.split('@').next()?;
    let (run, sub) = id.split_once('.')?;
    (sub.parse::<i64>().ok()? == subscriber).then_some(run.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_comes_from_the_returned_message_id_of_that_subscriber_only() {
        let h = "To: a@example.net\r\nMessage-ID: <digest.17.42@example.org>\r\n";
        assert_eq!(digest_run(h, 42), Some(17));
        assert_eq!(digest_run(h, 43), None);
        assert_eq!(digest_run("Message-ID: <x@y>", 42), None);
    }
}
