//! Subscriber email addresses: validated and normalised once, at the edge.

use std::fmt;

/// Longest address accepted (RFC 5321 path limit minus the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_LEN: usize = 64;

/// Why an address was refused; `Display` gives an English sentence, `code` a key for the
/// localised message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailError {
    Empty,
    LineBreak,
    TooLong,
    NoAt,
    BadLocal,
    BadDomain,
}

impl EmailError {
    /// A stable key (`email_empty`, …) under which page strings hold the translation.
    pub fn code(self) -> &'static str {
        match self {
            EmailError::Empty => "email_empty",
            EmailError::LineBreak => "email_line_break",
            EmailError::TooLong => "email_too_long",
            EmailError::NoAt => "email_no_at",
            EmailError::BadLocal => "email_bad_local",
            EmailError::BadDomain => "email_bad_domain",
        }
    }
}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmailError::Empty => "email is required",
            EmailError::LineBreak => "email must not contain line breaks or control characters",
            EmailError::TooLong => "email is longer than 254 characters",
            EmailError::NoAt => "email must look like name@example.org",
            EmailError::BadLocal => {
                "the part before @ may hold only letters, digits, dots and !#$%&'*+/=?^_`{|}~-"
            }
            EmailError::BadDomain => "the part after @ is not a valid domain name",
        })
    }
}

/// A deliverable address: trimmed, ASCII local part, lower-case ASCII (punycode) domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Validates and normalises `raw` (surrounding spaces removed, IDN domain to punycode).
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        // Control characters are refused before trimming: a trailing "\r\n" is an attack,
        // not a typo, and must never be silently repaired into a header.
        if raw.chars().any(|c| c.is_control()) {
            return Err(EmailError::LineBreak);
        }
        let s = raw.trim_matches(|c: char| c == ' ' || c == '\u{3000}');
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        // The length check comes first so that the work below is bounded.
        if s.len() > MAX_EMAIL_LEN * 4 {
            return Err(EmailError::TooLong);
        }
        // Full-width "＠" is what a Chinese input method often types.
        let s = s.replace('＠', "@");
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::NoAt)?;
        if local.is_empty() || local.len() > MAX_LOCAL_LEN || !dot_atom(local) {
            return Err(EmailError::BadLocal);
        }
        let domain = normalise_domain(domain)?;
        let email = format!("{local}@{domain}");
        if email.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as lettre's type (always succeeds for a parsed `Email`).
    pub fn to_lettre(&self) -> lettre::Address {
        self.0
            .parse()
            .expect("a parsed Email is a valid lettre address")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 5322 dot-atom of ASCII `atext`; quoted local parts are refused on purpose.
fn dot_atom(s: &str) -> bool {
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    s.split('.')
        .all(|part| !part.is_empty() && part.bytes().all(atext))
}

/// IDN to punycode (UTS #46, which also lower-cases and maps "。" to "."), then DNS rules:
/// at least two labels, each 1–63 of `[a-z0-9-]` not starting or ending with '-', and a
/// top-level label that is not all digits (so no IP addresses).
fn normalise_domain(domain: &str) -> Result<String, EmailError> {
    // A fully qualified name's final dot is harmless; drop it before the strict conversion.
    let domain = domain.strip_suffix(['.', '\u{3002}']).unwrap_or(domain);
    let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::BadDomain)?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok || ascii.len() > 253 {
        return Err(EmailError::BadDomain);
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_lowercases_the_domain_and_converts_idn_to_punycode() {
        let e = Email::parse("  Li.Lei+news@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Li.Lei+news@example.org");
        let e = Email::parse("zhang@工会。中国").unwrap();
        assert_eq!(e.as_str(), "zhang@xn--6oq837a.xn--fiqs8s");
        assert_eq!(Email::parse("a＠b.cn").unwrap().as_str(), "a@b.cn");
        assert_eq!(Email::parse("a@b.cn.").unwrap().as_str(), "a@b.cn");
    }

    #[test]
    fn refuses_what_cannot_be_delivered_or_could_inject_headers() {
        let long = format!(
            "{}@{}.cn",
            "a".repeat(60),
            vec!["b".repeat(50); 4].join(".")
        );
        for (bad, why) in [
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("a@b.cn\r\nBcc: x@y.cn", EmailError::LineBreak),
            ("a@b.cn\n", EmailError::LineBreak),
            ("a\u{0}@b.cn", EmailError::LineBreak),
            ("plainaddress", EmailError::NoAt),
            ("@b.cn", EmailError::BadLocal),
            ("a..b@b.cn", EmailError::BadLocal),
            ("\"a b\"@b.cn", EmailError::BadLocal),
            ("张三@b.cn", EmailError::BadLocal),
            ("a b@b.cn", EmailError::BadLocal),
            ("a@localhost", EmailError::BadDomain),
            ("a@127.0.0.1", EmailError::BadDomain),
            ("a@[127.0.0.1]", EmailError::BadDomain),
            ("a@-x.cn", EmailError::BadDomain),
            ("a@x_y.cn", EmailError::BadDomain),
            ("a@b..cn", EmailError::BadDomain),
            (long.as_str(), EmailError::TooLong),
        ] {
            assert_eq!(Email::parse(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn every_parsed_address_is_accepted_by_lettre() {
        for ok in [
            "a@b.cn",
            "x!#$%&'*+/=?^_`{|}~-y@sub.example.org",
            "zhang@工会.中国",
        ] {
            let _ = Email::parse(ok).unwrap().to_lettre();
        }
    }
}
