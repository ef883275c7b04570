//! The W3C Feed Validation Service's rules (RSS 2.0 with the RSS Best Practices Profile, and
//! RFC 4287 for Atom) as explicit assertions. Each check names the validator message it
//! stands for, so a failure reads like the validator's report.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Utc};
use roxmltree::{Document, Node};

pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const URI_CHARS: &str = ";/?:@&=+$.-_!~*'()%,#";
const HTML_OK: &[&str] = &[
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "span",
    "div",
    "html",
    "head",
    "body",
];
const ATTR_OK: &[&str] = &[
    "href", "title", "src", "alt", "width", "height", "colspan", "rowspan", "scope", "cite", "rel",
];

/// InvalidFullLink: an absolute URI made only of the characters RFC 2396 allows.
pub fn assert_full_uri(s: &str, what: &str) {
    let ok = s.split_once(':').is_some_and(|(scheme, rest)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.trim_start_matches("//").is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || URI_CHARS.contains(c))
    });
    assert!(ok, "InvalidFullLink in {what}: {s:?}");
}

/// InvalidTAG / NonCanonicalURI: a `tag:` URI per RFC 4151, in canonical form.
pub fn assert_tag_uri(s: &str, what: &str) {
    let rest = s
        .strip_prefix("tag:")
        .unwrap_or_else(|| panic!("{what} is not a tag: URI: {s}"));
    let (authority, rest) = rest.split_once(',').expect("tag: authority");
    assert!(
        !authority.is_empty()
            && authority
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c)),
        "InvalidTAG authority in {what}: {s}"
    );
    let (date, specific) = rest.split_once(':').expect("tag: date");
    // RFC 4151 `date`: YYYY, YYYY-MM or YYYY-MM-DD, as the validator's tag_re reads it.
    let digits: Vec<&str> = date.split('-').collect();
    assert!(
        matches!(digits.len(), 1..=3)
            && digits.iter().enumerate().all(|(i, d)| {
                d.len() == if i == 0 { 4 } else { 2 } && d.chars().all(|c| c.is_ascii_digit())
            }),
        "InvalidTAG date in {what}: {s}"
    );
    assert!(
        specific
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ";/?:@&=+$.-_!~*'()%,".contains(c)),
        "InvalidTAG specific in {what}: {s}"
    );
    // Canonical: percent-escapes upper-case, none for unreserved characters.
    let bytes = specific.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let hex = &specific[i + 1..i + 3];
            assert_eq!(
                hex,
                hex.to_ascii_uppercase(),
                "NonCanonicalURI in {what}: {s}"
            );
            let v = u8::from_str_radix(hex, 16).unwrap();
            assert!(
                !(v.is_ascii_alphanumeric() || b"-._~".contains(&v)),
                "NonCanonicalURI in {what}: {s}"
            );
        }
    }
}

/// InvalidRFC2822Date / IncorrectDOW / ImplausibleDate.
pub fn assert_rfc822(s: &str, what: &str, now: DateTime<Utc>) {
    let t = DateTime::parse_from_rfc2822(s)
        .unwrap_or_else(|e| panic!("InvalidRFC2822Date in {what}: {s} ({e})"));
    let parts: Vec<&str> = s.split(' ').collect();
    assert_eq!(parts.len(), 6, "InvalidRFC2822Date layout in {what}: {s}");
    assert_eq!(
        parts[0],
        format!("{},", t.weekday().to_string().get(..3).unwrap()),
        "IncorrectDOW in {what}: {s}"
    );
    assert!(
        parts[1].len() <= 2 && parts[3].len() == 4 && parts[4].len() == 8,
        "InvalidRFC2822Date in {what}: {s}"
    );
    let zone = parts[5];
    assert!(
        zone.len() == 5
            && (zone.starts_with('+') || zone.starts_with('-'))
            && matches!(&zone[3..4], "0" | "3")
            && &zone[4..] == "0",
        "InvalidRFC2822Date zone in {what}: {s}"
    );
    assert_plausible(t.to_utc(), what, now);
}

/// InvalidRFC3339Date / ImplausibleDate.
pub fn assert_rfc3339(s: &str, what: &str, now: DateTime<Utc>) {
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z') || matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':');
    assert!(shape, "InvalidRFC3339Date in {what}: {s}");
    let t = DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("InvalidRFC3339Date in {what}: {s} ({e})"));
    assert_plausible(t.to_utc(), what, now);
}

fn assert_plausible(t: DateTime<Utc>, what: &str, now: DateTime<Utc>) {
    assert!(
        t.year() >= 1990,
        "ImplausibleDate (before 1990) in {what}: {t}"
    );
    assert!(
        t <= Utc::now().max(now) + chrono::Duration::minutes(10),
        "ImplausibleDate (future) in {what}: {t}"
    );
}

/// InvalidMIMEAttribute.
pub fn assert_mime(s: &str, what: &str) {
    let bad = |c: char| c.is_whitespace() || "()<>,;:\\\"/[]?=".contains(c);
    let ok = s.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && !a.contains(bad) && !b.contains(bad)
    });
    assert!(ok, "InvalidMIMEAttribute in {what}: {s}");
}

/// ContainsHTML / ContainsUndeclaredHTML: plain text with no HTML end tag.
pub fn assert_no_html(s: &str, what: &str) {
    let found = s.match_indices("</").any(|(i, _)| {
        let tail = &s[i + 2..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        !name.is_empty() && tail[name.len()..].starts_with('>')
    });
    assert!(!found, "ContainsHTML in {what}: {s}");
}

/// SecurityRisk / SecurityRiskAttr / ContainsRelRef: HTML with only safe elements and
/// attributes and absolute links.
pub fn assert_safe_html(html: &str, what: &str) {
    let frag = scraper::Html::parse_fragment(html);
    for node in frag.tree.nodes() {
        if let Some(el) = node.value().as_element() {
            let name = el.name();
            assert!(HTML_OK.contains(&name), "SecurityRisk <{name}> in {what}");
            for (attr, value) in el.attrs() {
                assert!(
                    ATTR_OK.contains(&attr),
                    "SecurityRiskAttr {attr} on <{name}> in {what}"
                );
                if matches!(attr, "href" | "src") {
                    let scheme = value.split_once(':').map(|(s, _)| s).unwrap_or("");
                    assert!(
                        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()),
                        "ContainsRelRef {value:?} in {what}"
                    );
                }
            }
        }
    }
}

/// BadCharacters, and the RSS Profile's CharacterData: no C1 controls or U+FFFD anywhere, and
/// `<`/`&` in text written as hexadecimal references.
pub fn assert_clean_document(raw: &str, what: &str) {
    assert!(
        !raw.chars()
            .any(|c| matches!(c as u32, 0x80..=0x9F) || c == '\u{FFFD}'),
        "BadCharacters in {what}"
    );
    assert!(
        !raw.contains("&lt;") && !raw.contains("&amp;"),
        "CharacterData: `<`/`&` not as hex references in {what}"
    );
}

/// Element children of `n`.
pub fn kids<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// DuplicateElement: `names` (in `n`'s own namespace) occur at most once among its children.
pub fn assert_no_duplicates(n: Node, names: &[&str], what: &str) {
    let ns = n.tag_name().namespace();
    for name in names {
        let count = kids(n)
            .filter(|c| c.tag_name().namespace() == ns && c.tag_name().name() == *name)
            .count();
        assert!(count <= 1, "DuplicateElement {name} in {what}");
    }
}

/// The text of the one child named `name` (any namespace).
pub fn child_text<'a>(n: Node<'a, '_>, name: &str) -> Option<&'a str> {
    kids(n)
        .find(|c| c.tag_name().name() == name)
        .map(|c| c.text().unwrap_or(""))
}

/// `xml:lang` of the root, if any.
pub fn xml_lang<'a>(doc: &'a Document) -> Option<&'a str> {
    doc.root_element().attribute((XML_NS, "lang"))
}

/// DuplicateValue / DuplicateIds: every value is distinct.
pub fn assert_unique<'a>(values: impl IntoIterator<Item = &'a str>, what: &str) {
    let mut seen = HashSet::new();
    for v in values {
        assert!(seen.insert(v), "duplicate {what}: {v}");
    }
}
