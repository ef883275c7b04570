//! The DNS TXT record that publishes a DKIM public key (RFC 6376 §3.6), as a zone file wants
//! it: character-strings hold at most 255 bytes (RFC 1035 §3.3), so a longer value is split
//! into several quoted strings that verifiers join again.

use std::fmt;

/// Longest character-string of a TXT record.
pub const MAX_STRING: usize = 255;

/// A TXT record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// `<selector>._domainkey.<domain>`, without the final dot.
    pub name: String,
    /// The whole value, e.g. `v=DKIM1; k=ed25519; p=…`.
    pub value: String,
    /// What the key is ("RSA, 2048 bits"), for the comment above the record.
    pub key: String,
}

impl TxtRecord {
    /// The record of a public key `p` of kind `k` (`rsa`, `ed25519`).
    pub fn dkim(selector: &str, domain: &str, k: &str, p: &str, key: String) -> Self {
        Self {
            name: format!("{selector}._domainkey.{domain}"),
            value: format!("v=DKIM1; k={k}; p={p}"),
            key,
        }
    }

    /// The value cut into character-strings of at most [`MAX_STRING`] bytes. The value is
    /// ASCII, so every cut falls between characters.
    pub fn strings(&self) -> Vec<&str> {
        let mut rest = self.value.as_str();
        let mut out = Vec::new();
        while rest.len() > MAX_STRING {
            let (head, tail) = rest.split_at(MAX_STRING);
            out.push(head);
            rest = tail;
        }
        out.push(rest);
        out
    }

    /// The record as a zone file line: `<name>. IN TXT ( "…" "…" )`.
    pub fn zone_entry(&self) -> String {
        let strings: Vec<String> = self.strings().iter().map(|s| format!("\"{s}\"")).collect();
        format!("{}. IN TXT ( {} )", self.name, strings.join("\n\t"))
    }
}

/// Comments giving the name and the whole value (for DNS consoles that take them apart),
/// then the zone file entry.
impl fmt::Display for TxtRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "; DKIM public key ({}): publish this TXT record",
            self.key
        )?;
        writeln!(f, "; name:  {}", self.name)?;
        writeln!(f, "; value: {}", self.value)?;
        writeln!(f, "{}", self.zone_entry())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(p_len: usize) -> TxtRecord {
        TxtRecord::dkim("s1", "example.org", "rsa", &"A".repeat(p_len), "RSA".into())
    }

    #[test]
    fn a_short_value_is_one_string() {
        let r = TxtRecord::dkim(
            "tidings",
            "example.org",
            "ed25519",
            "abc=",
            "Ed25519".into(),
        );
        assert_eq!(r.name, "tidings._domainkey.example.org");
        assert_eq!(r.strings(), ["v=DKIM1; k=ed25519; p=abc="]);
        assert_eq!(
            r.zone_entry(),
            "tidings._domainkey.example.org. IN TXT ( \"v=DKIM1; k=ed25519; p=abc=\" )"
        );
    }

    #[test]
    fn a_long_value_is_cut_into_strings_of_255_bytes_that_join_back() {
        let r = record(600);
        let strings = r.strings();
        assert_eq!(
            strings.iter().map(|s| s.len()).collect::<Vec<_>>(),
            [255, 255, 618 - 510]
        );
        assert_eq!(strings.concat(), r.value);
        let entry = r.zone_entry();
        assert_eq!(entry.matches('"').count(), 6, "{entry}");
    }

    #[test]
    fn a_value_of_exactly_255_bytes_is_not_followed_by_an_empty_string() {
        let r = record(255 - "v=DKIM1; k=rsa; p=".len());
        assert_eq!(r.strings().len(), 1);
    }

    #[test]
    fn the_printed_record_names_the_key_and_ends_with_the_zone_entry() {
        let text = record(10).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "; name:  s1._domainkey.example.org");
        assert!(lines[2].starts_with("; value: v=DKIM1; k=rsa; p=AAAA"));
        assert!(lines[3].starts_with("s1._domainkey.example.org. IN TXT ( \""));
    }
}
