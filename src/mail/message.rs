//! Turning an [`Email`] into a lettre `Message`: RFC 2047 names and subjects, and no way for
//! a CR or LF in any caller-supplied text to start a header of its own.

use base64::{Engine, engine::general_purpose::STANDARD};
use lettre::{
    Message,
    message::{
        Body, Mailbox, MultiPart, SinglePart,
        header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue},
    },
};
use rand::RngCore;

use super::{Email, SendError};
use crate::config::Config;

/// Headers the mailer sets itself; an extra header may not replace or add to them.
const RESERVED: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "sender",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "return-path",
];

/// Replaces every control character (CR and LF above all) with a space, so that text from
/// templates, configuration or a visitor stays on its header line.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The domain of `List-Id` and of the mailto unsubscribe address: `mail.list_domain`, else
/// the domain of `mail.from`. A sender at `localhost` or an IP address gives way to the host
/// of `site.base_url` when that is a real name: receivers group and filter a list by its id,
/// and `daily.localhost` names nothing they can trust.
pub fn list_domain(config: &Config) -> String {
    if let Some(d) = &config.mail.list_domain {
        return d.to_ascii_lowercase();
    }
    let from = crate::domain::parse_mailbox(&config.mail.from)
        .ok()
        .and_then(|(_, a)| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()));
    let site = url::Url::parse(&config.site.base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .filter(|h| is_named_host(h));
    match (from, site) {
        (Some(from), _) if is_named_host(&from) => from,
        (_, Some(site)) => site,
        (from, None) => from.unwrap_or_else(|| "localhost".into()),
    }
}

/// Whether `host` is a domain name others can resolve: not `localhost` (or under it), not an
/// IP address (bare or as an address literal), not a single label.
fn is_named_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    !(host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with('[')
        || host.parse::<std::net::IpAddr>().is_ok()
        || !host.contains('.'))
}

/// A fresh `<random@domain>` Message-ID.
pub fn new_message_id(domain: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("<{}@{domain}>", hex::encode(bytes))
}

/// `text` with CRLF line endings, made in one pass. lettre would insert each missing CR by
/// moving the rest of the body along: for a 20 KB digest of a few hundred lines that was a
/// quarter of the cost of a mail.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut lines = text.split('\n');
    out.push_str(lines.next().unwrap_or_default());
    for line in lines {
        if !out.ends_with('\r') {
            out.push('\r');
        }
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// A text part's body: CRLF line endings, then 7bit when it is ASCII in lines of at most 998
/// characters, else base64 in lines of 76 (shorter than quoted-printable for Chinese text,
/// where each character would take nine). lettre would work out both encodings' lengths
/// first, for each part of each mail.
fn body(text: &str) -> Body {
    let text = crlf(text);
    if text.is_ascii() && text.split("\r\n").all(|line| line.len() <= 998) {
        return Body::dangerous_pre_encoded(text.into_bytes(), ContentTransferEncoding::SevenBit);
    }
    let raw = STANDARD.encode(text.as_bytes());
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 38 + 2);
    for (i, line) in raw.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    }
    Body::dangerous_pre_encoded(out, ContentTransferEncoding::Base64)
}

/// Builds the message `from` sends for `email`; returns it with its Message-ID (generated on
/// `id_domain` when `email` brings none).
pub fn build(
    from: &Mailbox,
    id_domain: &str,
    email: &Email,
) -> Result<(Message, String), SendError> {
    let message_id = match &email.message_id {
        Some(id) => {
            let id = one_line(id);
            if !(id.starts_with('<') && id.ends_with('>') && id.contains('@') && id.is_ascii()) {
                return Err(SendError::Invalid(format!(
                    "Message-ID {id:?} is not of the form <id@domain>"
                )));
            }
            id
        }
        None => new_message_id(id_domain),
    };
    let to_name = email
        .to_name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.is_empty());
    let to = Mailbox::new(to_name, email.to.to_lettre());
    let from = match email.from_name.as_deref().map(one_line) {
        Some(name) if !name.is_empty() => Mailbox::new(Some(name), from.email.clone()),
        _ => from.clone(),
    };
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(one_line(&email.subject))
        .date_now()
        .message_id(Some(message_id.clone()));
    if let Some(sender) = &email.envelope_from {
        let sender: lettre::Address = one_line(sender)
            .parse()
            .map_err(|e| SendError::Invalid(format!("envelope sender {sender:?}: {e}")))?;
        let envelope = lettre::address::Envelope::new(Some(sender), vec![email.to.to_lettre()])
            .map_err(|e| SendError::Invalid(format!("envelope: {e}")))?;
        builder = builder.envelope(envelope);
    }
    for (name, value) in &email.headers {
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(SendError::Invalid(format!(
                "header {name} is set by the mailer"
            )));
        }
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| SendError::Invalid(format!("{name:?} is not a header name")))?;
        builder = builder.raw_header(HeaderValue::new(name, one_line(value)));
    }
    let plain = || {
        SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(body(&email.text))
    };
    let message = match &email.html {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(plain()).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(body(html)),
            ),
        ),
        None => builder.singlepart(plain()),
    }
    .map_err(|e| SendError::Invalid(format!("cannot build the message: {e}")))?;
    Ok((message, message_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain;

    fn email(subject: &str, name: Option<&str>) -> Email {
        Email {
            to: domain::Email::parse("li@example.org").unwrap(),
            to_name: name.map(str::to_owned),
            from_name: None,
            subject: subject.into(),
            text: "正文 text".into(),
            html: Some("<p>正文</p>".into()),
            headers: vec![("List-Id".into(), "工会要闻 <news.example.org>".into())],
            message_id: None,
            envelope_from: None,
        }
    }

    fn from() -> Mailbox {
        "青海省总工会 <news@example.org>".parse().unwrap()
    }

    #[test]
    fn non_ascii_names_and_subjects_are_encoded_words_and_the_message_is_ascii() {
        let (m, id) = build(&from(), "example.org", &email("请确认订阅", Some("李雷"))).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.is_ascii(), "{raw}");
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        assert!(raw.contains("From: =?utf-8?"), "{raw}");
        assert!(raw.contains(&format!("Message-ID: {id}")), "{raw}");
        assert!(id.ends_with("@example.org>"));
    }

    #[test]
    fn line_breaks_in_subject_name_or_header_value_never_start_a_header() {
        let mut e = email("Hi\r\nBcc: evil@x.org", Some("Li\r\nBcc: evil@x.org"));
        e.headers = vec![("X-Note".into(), "a\r\nBcc: evil@x.org".into())];
        let (m, _) = build(&from(), "example.org", &e).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            !raw.lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{raw}"
        );
        assert_eq!(m.envelope().to().len(), 1);
    }

    #[test]
    fn bare_line_feeds_become_crlf_and_crlf_stays() {
        assert_eq!(crlf("a\nb\r\nc\n\n"), "a\r\nb\r\nc\r\n\r\n");
        assert_eq!(crlf("\n正文"), "\r\n正文");
        assert_eq!(crlf(""), "");
    }

    #[test]
    fn ascii_parts_stay_7bit_and_others_are_base64_that_decodes_to_the_text() {
        let b = body("Hello\nworld");
        assert_eq!(b.encoding(), ContentTransferEncoding::SevenBit);
        assert_eq!(b.as_ref(), b"Hello\r\nworld");
        assert_eq!(
            body(&"x".repeat(999)).encoding(),
            ContentTransferEncoding::Base64,
            "a line over 998 characters may not go out as 7bit"
        );
        let text = "全省各级工会组织深入学习贯彻会议精神。\n".repeat(40);
        let b = body(&text);
        assert_eq!(b.encoding(), ContentTransferEncoding::Base64);
        let encoded = std::str::from_utf8(b.as_ref()).unwrap();
        assert!(encoded.split("\r\n").all(|l| l.len() <= 76));
        let decoded = STANDARD.decode(encoded.replace("\r\n", "")).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), crlf(&text));

        let (m, _) = build(&from(), "example.org", &email("s", None)).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/html; charset=utf-8"),
            "{raw}"
        );
        assert!(raw.contains("Content-Transfer-Encoding: base64"), "{raw}");
    }

    fn config(toml: &str) -> Config {
        Config::from_toml_str(toml).unwrap()
    }

    #[test]
    fn the_list_domain_is_configured_or_the_senders_unless_that_is_local() {
        let site = "[site]\nbase_url = \"https://news.example.org/mail\"\n";
        assert_eq!(
            list_domain(&config(&format!(
                "{site}[mail]\nfrom = \"工会 <news@localhost>\"\nlist_domain = \"Lists.Example.org\"\n"
            ))),
            "lists.example.org"
        );
        assert_eq!(
            list_domain(&config(&format!(
                "{site}[mail]\nfrom = \"工会 <news@Union.example.org>\"\n"
            ))),
            "union.example.org"
        );
        for local in [
            "news@localhost",
            "news@[127.0.0.1]",
            "news@mail.localhost",
            "news@mailhost",
        ] {
            assert_eq!(
                list_domain(&config(&format!("{site}[mail]\nfrom = \"{local}\"\n"))),
                "news.example.org",
                "{local}"
            );
        }
        // Nothing better to offer: the sender's domain stays.
        assert_eq!(
            list_domain(&config("[mail]\nfrom = \"news@localhost\"\n")),
            "localhost"
        );
        assert_eq!(
            list_domain(&config(
                "[site]\nbase_url = \"http://10.0.0.5:8080\"\n[mail]\nfrom = \"news@localhost\"\n"
            )),
            "localhost"
        );
    }

    #[test]
    fn reserved_or_malformed_extra_headers_are_refused() {
        for name in ["Bcc", "subject", "X Bad", "X:Bad", ""] {
            let mut e = email("s", None);
            e.headers = vec![(name.into(), "v".into())];
            assert!(
                matches!(
                    build(&from(), "example.org", &e),
                    Err(SendError::Invalid(_))
                ),
                "{name}"
            );
        }
    }
}
