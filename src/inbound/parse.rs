//! Reading what a received message is: an RFC 3464 delivery status notification, an RFC 5965
//! complaint report, an automatic reply, or plain mail (a mailto unsubscribe, or a bounce in
//! a provider's own words, see [`super::phrases`]). Pure functions over the raw bytes.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// Text of a body read for phrases and tokens, at most (the rest is ignored).
const MAX_TEXT: usize = 64 * 1024;
/// Recipients read from one DSN, at most.
const MAX_RECIPIENTS: usize = 50;

/// One recipient of a delivery status notification (RFC 3464 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// `Final-Recipient` (or `Original-Recipient`), the address only, lower-cased.
    pub recipient: Option<String>,
    /// `failed`, `delayed`, `delivered`, `relayed`, `expanded`.
    pub action: String,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: String,
    /// `Diagnostic-Code`, e.g. `smtp; 550 5.1.1 user unknown`, on one line.
    pub diagnostic: Option<String>,
}

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `multipart/report; report-type=delivery-status`.
    Dsn(Vec<DsnRecipient>),
    /// `multipart/report; report-type=feedback-report`, with its `Feedback-Type`.
    Complaint { feedback_type: String },
    /// An out-of-office or other automatic answer (RFC 3834), not a bounce.
    AutoReply,
    /// Anything else: a person's mail, or a bounce that is not a standard report.
    Plain,
}

/// A received message, read.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub kind: Kind,
    pub subject: String,
    /// `From`'s address, lower-cased.
    pub from: Option<String>,
    /// The readable text of the message (its text parts), bounded.
    pub text: String,
    /// The header block of the message a report is about (the returned message or its
    /// headers), when the report carries it.
    pub original_headers: String,
}

/// Reads `raw`; `None` when it is not a message at all.
pub fn parse(raw: &[u8]) -> Option<Parsed> {
    let message = MessageParser::default().parse(raw)?;
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase());
    let report_type = message
        .content_type()
        .filter(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|ct| ct.attribute("report-type"))
        .map(str::to_ascii_lowercase);
    let mut text = String::new();
    let mut original_headers = String::new();
    let mut status_fields = None;
    for part in &message.parts {
        let (ctype, subtype) = part
            .content_type()
            .map(|ct| {
                (
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or_default().to_ascii_lowercase(),
                )
            })
            .unwrap_or_else(|| ("text".into(), "plain".into()));
        match (&part.body, ctype.as_str(), subtype.as_str()) {
            (_, "message", "delivery-status" | "global-delivery-status" | "feedback-report")
                if status_fields.is_none() =>
            {
                status_fields = Some(String::from_utf8_lossy(part.contents()).into_owned());
            }
            (PartType::Message(inner), _, _) if original_headers.is_empty() => {
                original_headers = header_block(inner);
            }
            (_, "text", "rfc822-headers" | "global-headers") if original_headers.is_empty() => {
                original_headers = String::from_utf8_lossy(part.contents()).into_owned();
            }
            (_, "message", _) | (_, "text", "rfc822-headers" | "global-headers") => {}
            (PartType::Text(t), _, _) => push_bounded(&mut text, t),
            (PartType::Html(h), _, _) if text.is_empty() => {
                push_bounded(&mut text, &html_to_text(h));
            }
            _ => {}
        }
    }
    let kind = match (report_type.as_deref(), status_fields) {
        (Some("delivery-status"), Some(fields)) => Kind::Dsn(dsn_recipients(&fields)),
        (Some("feedback-report"), Some(fields)) => Kind::Complaint {
            feedback_type: field_groups(&fields)
                .iter()
                .flatten()
                .find(|(n, _)| n == "feedback-type")
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_else(|| "abuse".into()),
        },
        _ if is_auto_reply(&message, &subject) => Kind::AutoReply,
        _ => Kind::Plain,
    };
    Some(Parsed {
        kind,
        subject,
        from,
        text,
        original_headers,
    })
}

/// The raw header block of a nested message, bounded.
fn header_block(inner: &Message<'_>) -> String {
    let raw = inner.raw_message();
    let end = find_blank_line(raw).unwrap_or(raw.len()).min(MAX_TEXT);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn find_blank_line(raw: &[u8]) -> Option<usize> {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
}

fn push_bounded(text: &mut String, more: &str) {
    let room = MAX_TEXT.saturating_sub(text.len());
    let mut cut = more.len().min(room);
    while !more.is_char_boundary(cut) {
        cut -= 1;
    }
    if !text.is_empty() && cut > 0 {
        text.push('\n');
    }
    text.push_str(&more[..cut]);
}

/// Tags removed, good enough for matching phrases in an HTML-only bounce.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(MAX_TEXT));
    let mut in_tag = false;
    for c in html.chars().take(MAX_TEXT) {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
}

/// RFC 3834 `Auto-Submitted: auto-replied`, the headers vacation programs add, or a subject
/// that says so (自动回复, Out of Office, Automatic reply).
fn is_auto_reply(message: &Message<'_>, subject: &str) -> bool {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if header("Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied"))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
    {
        return true;
    }
    let s = subject.to_lowercase();
    [
        "自动回复",
        "auto-reply",
        "autoreply",
        "out of office",
        "automatic reply",
    ]
    .iter()
    .any(|p| s.contains(p))
}

/// Header-like groups separated by blank lines (RFC 3464 §2.1: one per-message group, then
/// one group per recipient), names lower-cased, folded lines joined.
pub fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    for line in text.lines().take(2000) {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = group.last_mut()
                && v.len() < 4096
            {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// The per-recipient groups of a `message/delivery-status` body.
fn dsn_recipients(fields: &str) -> Vec<DsnRecipient> {
    let get = |g: &[(String, String)], name: &str| {
        g.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };
    field_groups(fields)
        .iter()
        .filter(|g| get(g, "action").is_some() || get(g, "status").is_some())
        .take(MAX_RECIPIENTS)
        .map(|g| DsnRecipient {
            recipient: get(g, "final-recipient")
                .or_else(|| get(g, "original-recipient"))
                .map(|v| address_of_type(&v)),
            action: get(g, "action")
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
            status: get(g, "status")
                .map(|s| status_code(&s).unwrap_or_default())
                .unwrap_or_default(),
            diagnostic: get(g, "diagnostic-code").map(|d| crate::mail::one_line(&d)),
        })
        .collect()
}

/// `rfc822; Name@Example.org` → `name@example.org`.
fn address_of_type(v: &str) -> String {
    let addr = v.split_once(';').map_or(v, |(_, a)| a);
    addr.trim().trim_matches(['<', '>']).to_ascii_lowercase()
}

/// The first enhanced status code (`class.subject.detail`, RFC 3463) in `s`.
pub fn status_code(s: &str) -> Option<String> {
    s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && (1..=3).contains(&parts[1].len())
                && (1..=3).contains(&parts[2].len())
                && parts[1..]
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r
To: bounces+12-abc@bounce.example.org\r
Subject: Undelivered Mail Returned to Sender\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r
\r
--B\r
Content-Type: text/plain\r
\r
I'm sorry to have to inform you that your message could not be delivered.\r
--B\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.net\r
Arrival-Date: Mon, 30 Nov 2026 08:00:03 +0800\r
\r
Final-Recipient: rfc822; Li.Na@Example.net\r
Original-Recipient: rfc822;li.na@example.net\r
Action: failed\r
Status: 5.1.1\r
Diagnostic-Code: smtp; 550 5.1.1 <li.na@example.net>:\r
  Recipient address rejected: User unknown\r
\r
--B\r
Content-Type: text/rfc822-headers\r
\r
From: =?UTF-8?B?6Z2S5rW355yB5oC75bel5Lya?= <news@example.org>\r
To: li.na@example.net\r
Message-ID: <digest.7.12@example.org>\r
\r
--B--\r
";

    #[test]
    fn a_dsn_gives_each_recipient_with_status_and_diagnostic() {
        let p = parse(DSN.as_bytes()).unwrap();
        let Kind::Dsn(r) = &p.kind else {
            panic!("{:?}", p.kind)
        };
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].recipient.as_deref(), Some("li.na@example.net"));
        assert_eq!(r[0].action, "failed");
        assert_eq!(r[0].status, "5.1.1");
        assert_eq!(
            r[0].diagnostic.as_deref(),
            Some("smtp; 550 5.1.1 <li.na@example.net>: Recipient address rejected: User unknown")
        );
        assert!(
            p.original_headers
                .contains("Message-ID: <digest.7.12@example.org>")
        );
        assert_eq!(p.from.as_deref(), Some("mailer-daemon@mx.example.net"));
    }

    #[test]
    fn status_codes_are_found_in_text_and_nonsense_is_not() {
        assert_eq!(
            status_code("smtp; 550 5.1.1 user").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            status_code("4.2.2 (mailbox full)").as_deref(),
            Some("4.2.2")
        );
        assert_eq!(status_code("version 1.2.3 and 10.0.0.1"), None);
        assert_eq!(status_code(""), None);
    }

    #[test]
    fn an_out_of_office_answer_is_an_auto_reply() {
        let raw = "From: a@example.net\r\nTo: bounces+1-x@b.example.org\r\nAuto-Submitted: auto-replied\r\nSubject: =?UTF-8?B?6Ieq5Yqo5Zue5aSN?=\r\n\r\n我在休假。\r\n";
        assert_eq!(parse(raw.as_bytes()).unwrap().kind, Kind::AutoReply);
        let raw = "From: a@example.net\r\nSubject: 自动回复: 工会要闻\r\n\r\n我在休假。\r\n";
        assert_eq!(parse(raw.as_bytes()).unwrap().kind, Kind::AutoReply);
    }

    #[test]
    fn folded_fields_are_joined_and_groups_split_on_blank_lines() {
        let g = field_groups("A: 1\r\nB: two\r\n  lines\r\n\r\nC: 3\r\n");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0][1], ("b".into(), "two lines".into()));
        assert_eq!(g[1][0], ("c".into(), "3".into()));
    }
}
