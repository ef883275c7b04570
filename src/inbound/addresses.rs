//! The addresses mail comes back to: `bounces+<delivery token>@<domain>` (VERP, the envelope
//! sender of each delivery) and `unsubscribe+<subscriber token>@<domain>` (the mailto of
//! `List-Unsubscribe`). Tokens are derived with the shared link secret (HMAC-SHA256), so
//! nothing is stored per mail and every process reads every token; a report that names an
//! address without its token's MAC changes nothing.
//!
//! Tokens are lower-case letters, digits and '-', because some mail systems lower-case the
//! local part: `<id>-<mac>` for a delivery, `<id>-<generation>-<mac>` for a subscriber.

use std::sync::Arc;

use hmac::{Hmac, Mac};

use crate::config::Config;

/// Bytes of MAC kept in a token (80 bits: 20 hex digits).
const MAC_BYTES: usize = 10;

/// What a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One delivery (a run's mail to one subscriber).
    Delivery(i64),
    /// A subscriber in one generation (a re-subscription makes old tokens stale).
    Subscriber { id: i64, generation: i64 },
}

/// What an address or token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// One of ours, with a valid MAC.
    Ours(Token),
    /// Shaped like ours but the MAC is wrong: forged or mangled.
    Forged,
    /// Not one of our addresses.
    NotOurs,
}

/// Which mailbox of ours an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    Bounces,
    Unsubscribe,
}

/// Builds and reads the bounce and unsubscribe addresses.
#[derive(Clone)]
pub struct Addresses {
    domain: String,
    secret: Arc<Vec<u8>>,
}

impl Addresses {
    /// Addresses at `mail.bounce_domain`, or at the list domain when that is unset
    /// (`mail.list_domain`, else `mail.from`'s, see [`crate::mail::message::list_domain`]).
    pub fn new(config: &Config, secret: Arc<Vec<u8>>) -> Self {
        let domain = (config.mail.bounce_domain.clone())
            .unwrap_or_else(|| crate::mail::message::list_domain(config));
        Self {
            domain: domain.to_ascii_lowercase(),
            secret,
        }
    }

    /// The domain of both mailboxes.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The VERP envelope sender of delivery `id`.
    pub fn bounce_address(&self, delivery_id: i64) -> String {
        format!(
            "bounces+{delivery_id}-{}@{}",
            self.mac(&format!("verp\0{delivery_id}")),
            self.domain
        )
    }

    /// The token of subscriber `id` in `generation`, as the unsubscribe address carries it.
    pub fn subscriber_token(&self, id: i64, generation: i64) -> String {
        format!(
            "{id}-{generation}-{}",
            self.mac(&format!("unsubscribe\0{id}\0{generation}"))
        )
    }

    /// `unsubscribe+<token>@<domain>`.
    pub fn unsubscribe_address(&self, id: i64, generation: i64) -> String {
        format!(
            "unsubscribe+{}@{}",
            self.subscriber_token(id, generation),
            self.domain
        )
    }

    /// The `List-Unsubscribe` mailto URI: the address, and the token again in the subject
    /// for mailboxes that drop the `+…` part.
    pub fn unsubscribe_mailto(&self, id: i64, generation: i64) -> String {
        let token = self.subscriber_token(id, generation);
        format!(
            "mailto:unsubscribe+{token}@{}?subject=unsubscribe%20{token}",
            self.domain
        )
    }

    /// Which of our mailboxes `address` is (with or without a `+token`), if any.
    pub fn mailbox(&self, address: &str) -> Option<Mailbox> {
        let (local, domain) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let base = local.split_once('+').map_or(local, |(b, _)| b);
        match base.to_ascii_lowercase().as_str() {
            "bounces" => Some(Mailbox::Bounces),
            "unsubscribe" => Some(Mailbox::Unsubscribe),
            _ => None,
        }
    }

    /// Reads an address of ours: its mailbox and what its token names.
    pub fn read_address(&self, address: &str) -> Read {
        let Some(mailbox) = self.mailbox(address) else {
            return Read::NotOurs;
        };
        let local = address.trim().trim_matches(['<', '>']);
        let local = local.rsplit_once('@').map_or(local, |(l, _)| l);
        match local.split_once('+') {
            Some((_, token)) => self.read_token(mailbox, token),
            None => Read::NotOurs,
        }
    }

    /// Reads the token part of an address of `mailbox`.
    pub fn read_token(&self, mailbox: Mailbox, token: &str) -> Read {
        let token = token.trim().to_ascii_lowercase();
        let parts: Vec<&str> = token.split('-').collect();
        let num = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
        match (mailbox, parts.as_slice()) {
            (Mailbox::Bounces, [id, mac]) => match num(id) {
                Some(id) if self.verify(&format!("verp\0{id}"), mac) => {
                    Read::Ours(Token::Delivery(id))
                }
                _ => Read::Forged,
            },
            (Mailbox::Unsubscribe, [id, generation, mac]) => match (num(id), num(generation)) {
                (Some(id), Some(generation))
                    if self.verify(&format!("unsubscribe\0{id}\0{generation}"), mac) =>
                {
                    Read::Ours(Token::Subscriber { id, generation })
                }
                _ => Read::Forged,
            },
            _ => Read::Forged,
        }
    }

    /// Every token of ours written anywhere in `text` (returned headers, a bounce's words, a
    /// subject): `bounces+…@domain`, `unsubscribe+…@domain` and `unsubscribe <token>`.
    pub fn tokens_in(&self, text: &str) -> Vec<Read> {
        let mut found = Vec::new();
        let lower = text.to_ascii_lowercase();
        for (prefix, mailbox) in [
            ("bounces+", Mailbox::Bounces),
            ("unsubscribe+", Mailbox::Unsubscribe),
            ("unsubscribe ", Mailbox::Unsubscribe),
            ("unsubscribe%20", Mailbox::Unsubscribe),
        ] {
            for (at, _) in lower.match_indices(prefix).take(20) {
                let rest = &lower[at + prefix.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .unwrap_or(rest.len());
                let token = &rest[..end];
                if token.contains('-') {
                    found.push(self.read_token(mailbox, token));
                }
            }
        }
        found
    }

    fn mac(&self, message: &str) -> String {
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(message.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..MAC_BYTES])
    }

    /// Constant-time check of a hex MAC.
    fn verify(&self, message: &str, mac_hex: &str) -> bool {
        let Ok(given) = hex::decode(mac_hex) else {
            return false;
        };
        if given.len() != MAC_BYTES {
            return false;
        }
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(message.as_bytes());
        mac.verify_truncated_left(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses() -> Addresses {
        let config = Config::from_toml_str(
            "[mail]\nfrom = \"工会 <news@example.org>\"\nbounce_domain = \"bounce.example.org\"\n",
        )
        .unwrap();
        Addresses::new(&config, Arc::new(b"secret".to_vec()))
    }

    #[test]
    fn a_bounce_address_round_trips_even_when_upper_cased() {
        let a = addresses();
        let addr = a.bounce_address(8812);
        assert!(addr.starts_with("bounces+8812-"), "{addr}");
        assert!(addr.ends_with("@bounce.example.org"), "{addr}");
        assert_eq!(a.read_address(&addr), Read::Ours(Token::Delivery(8812)));
        assert_eq!(
            a.read_address(&addr.to_uppercase()),
            Read::Ours(Token::Delivery(8812))
        );
        assert_eq!(
            a.read_address(&format!("<{addr}>")),
            Read::Ours(Token::Delivery(8812))
        );
    }

    #[test]
    fn a_changed_id_or_mac_is_forged_and_other_addresses_are_not_ours() {
        let a = addresses();
        let addr = a.bounce_address(5);
        let other_id = addr.replacen("bounces+5-", "bounces+6-", 1);
        assert_eq!(a.read_address(&other_id), Read::Forged);
        let unsub = a.unsubscribe_address(5, 1);
        let other_generation = unsub.replacen("+5-1-", "+5-2-", 1);
        assert_eq!(a.read_address(&other_generation), Read::Forged);
        assert_eq!(
            a.read_address("bounces+5-zz@bounce.example.org"),
            Read::Forged
        );
        assert_eq!(
            a.read_address(&addr.replace("bounce.example.org", "example.net")),
            Read::NotOurs
        );
        assert_eq!(a.read_address("news@bounce.example.org"), Read::NotOurs);
        // Another secret (another installation) makes other tokens.
        let b = Addresses::new(
            &Config::from_toml_str("[mail]\nbounce_domain = \"bounce.example.org\"\n").unwrap(),
            Arc::new(b"other".to_vec()),
        );
        assert_eq!(b.read_address(&addr), Read::Forged);
    }

    #[test]
    fn tokens_are_found_in_returned_headers_and_subjects() {
        let a = addresses();
        let mailto = a.unsubscribe_mailto(42, 3);
        let headers = format!("List-Unsubscribe: <https://x/unsubscribe?token=q>, <{mailto}>\r\n");
        assert!(
            a.tokens_in(&headers)
                .contains(&Read::Ours(Token::Subscriber {
                    id: 42,
                    generation: 3
                }))
        );
        let subject = format!("Unsubscribe {}", a.subscriber_token(42, 3));
        assert_eq!(
            a.tokens_in(&subject),
            vec![Read::Ours(Token::Subscriber {
                id: 42,
                generation: 3
            })]
        );
        assert!(a.tokens_in("please unsubscribe me").is_empty());
    }

    #[test]
    fn without_a_bounce_domain_the_addresses_use_the_sender_domain() {
        let config = Config::from_toml_str("[mail]\nfrom = \"工会 <News@Example.org>\"\n").unwrap();
        let a = Addresses::new(&config, Arc::new(vec![1]));
        assert_eq!(a.domain(), "example.org");
        assert_eq!(
            a.mailbox("UNSUBSCRIBE+1-1-aa@example.org"),
            Some(Mailbox::Unsubscribe)
        );
        assert_eq!(a.mailbox("postmaster@example.org"), None);
    }
}
