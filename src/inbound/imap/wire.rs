//! What the poller writes in IMAP commands and reads out of messages: folder names in
//! modified UTF-7 (RFC 3501 §5.1.3, so that a folder called 退信 is found), UID sets, and the
//! addresses a fetched message was sent to.

use base64::{
    Engine,
    alphabet::Alphabet,
    engine::{GeneralPurpose, GeneralPurposeConfig},
};
use mail_parser::{HeaderName, HeaderValue, MessageParser};

/// The headers that say where a message was delivered, most telling first.
const RECIPIENT_HEADERS: [&str; 3] = ["Delivered-To", "X-Original-To", "To"];

/// `folder` as IMAP names it: printable ASCII as is (`&` as `&-`), anything else as
/// `&` + base64 (with `,` for `/`, unpadded) of its UTF-16 + `-`.
pub(super) fn mailbox_name(folder: &str) -> String {
    let mut out = String::with_capacity(folder.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in folder.chars() {
        if (' '..='~').contains(&c) {
            flush_utf16(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush_utf16(&mut pending, &mut out);
    out
}

/// Writes the UTF-16 run in `pending` as `&…-` and empties it.
fn flush_utf16(pending: &mut Vec<u16>, out: &mut String) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&imap_base64().encode(bytes));
    out.push('-');
    pending.clear();
}

/// Base64 with `,` in place of `/` and no padding (RFC 3501 §5.1.3).
fn imap_base64() -> GeneralPurpose {
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
            .expect("a valid base64 alphabet");
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new().with_encode_padding(false),
    )
}

/// `uids` (sorted, distinct) as a UID set: `1:3,7,9:10`.
pub(super) fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        while i + 1 < uids.len() && uids[i + 1] == uids[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if uids[i] == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{}", uids[i]));
        }
        i += 1;
    }
    out
}

/// The addresses `raw` was sent to, from `Delivered-To`, `X-Original-To` and `To` in that
/// order: lower-cased, without brackets or names, each once. A message whose header cannot be
/// read gives none (the processor decides what to do with it).
pub(super) fn recipients(raw: &[u8]) -> Vec<String> {
    let parser = RECIPIENT_HEADERS.iter().fold(MessageParser::new(), |p, h| {
        p.header_address(HeaderName::from(*h))
    });
    let Some(message) = parser.parse_headers(raw) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for header in RECIPIENT_HEADERS {
        for value in message.header_values(HeaderName::from(header)) {
            let HeaderValue::Address(address) = value else {
                continue;
            };
            for addr in address.iter() {
                let Some(a) = addr.address() else { continue };
                let a = a.trim().to_lowercase();
                if a.contains('@') && !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_modified_utf7() {
        assert_eq!(mailbox_name("INBOX"), "INBOX");
        assert_eq!(mailbox_name("Bounces & Co"), "Bounces &- Co");
        // RFC 3501 §5.1.3's own example.
        assert_eq!(
            mailbox_name("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(mailbox_name("退信"), "&kABP4Q-");
        assert_eq!(mailbox_name("a😀b"), "a&2D3eAA-b");
    }

    #[test]
    fn uid_sets_use_ranges() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn recipients_come_from_delivery_headers_then_to() {
        let raw = b"Delivered-To: Mailbox@Corp.example\r\n\
            X-Original-To: <Bounces+AbC@News.Example>\r\n\
            To: \"Smith, J\" <bounces+abc@news.example>, other@x.example\r\n\
            Subject: hi\r\n\r\nbody\r\n";
        assert_eq!(
            recipients(raw),
            [
                "mailbox@corp.example",
                "bounces+abc@news.example",
                "other@x.example"
            ]
        );
    }

    #[test]
    fn a_message_without_addresses_has_no_recipients() {
        assert!(recipients(b"Subject: x\r\n\r\nbody").is_empty());
        assert!(recipients(b"").is_empty());
        assert!(recipients(b"To: undisclosed-recipients:;\r\n\r\n").is_empty());
    }
}
