//! Small XML helpers shared by the hand-written documents (OPML) and the crate-written feeds.

/// Rewrites the escapes `&lt;` and `&amp;` as the hexadecimal references `&#x3C;` and `&#x26;`.
///
/// Both spellings mean the same character to an XML parser, and inside the CDATA sections of
/// RSS (which hold HTML) the same character to an HTML parser; but the RSS Best Practices
/// Profile, and the W3C validator with it, ask for the hexadecimal form in plain text, so that
/// a title such as `a<b` or `1&2` is not mistaken for markup.
pub fn hex_refs(doc: Vec<u8>) -> Vec<u8> {
    if !doc.windows(4).any(|w| w == b"&lt;" || w == b"&amp") {
        return doc;
    }
    let mut out = Vec::with_capacity(doc.len() + doc.len() / 64);
    let mut i = 0;
    while i < doc.len() {
        let rest = &doc[i..];
        if rest.starts_with(b"&lt;") {
            out.extend_from_slice(b"&#x3C;");
            i += 4;
        } else if rest.starts_with(b"&amp;") {
            out.extend_from_slice(b"&#x26;");
            i += 5;
        } else {
            out.push(doc[i]);
            i += 1;
        }
    }
    out
}

/// Escapes text for an XML attribute or element (after removing characters XML forbids).
pub fn escape(s: &str) -> String {
    let cleaned = super::doc::clean(s);
    let mut out = String::with_capacity(cleaned.len() + 8);
    for c in cleaned.chars() {
        match c {
            '&' => out.push_str("&#x26;"),
            '<' => out.push_str("&#x3C;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_refs_rewrites_only_lt_and_amp() {
        let doc = b"<t>a&lt;b &amp; c &gt; &quot;</t>".to_vec();
        assert_eq!(
            String::from_utf8(hex_refs(doc)).unwrap(),
            "<t>a&#x3C;b &#x26; c &gt; &quot;</t>"
        );
    }

    #[test]
    fn escape_handles_markup_quotes_and_forbidden_characters() {
        assert_eq!(
            escape("a<b>&\"'\u{1}工"),
            "a&#x3C;b&gt;&#x26;&quot;&apos;工"
        );
    }
}
