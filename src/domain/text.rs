//! Characters that must never enter stored text: they break XML and mail.

/// Whether `c` may appear in XML 1.0 text (and therefore in any stored field).
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || matches!(c as u32, 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
            && !matches!(c as u32, 0x7F..=0x9F)
            && !is_noncharacter(c)
}

fn is_noncharacter(c: char) -> bool {
    let u = c as u32;
    (0xFDD0..=0xFDEF).contains(&u) || (u & 0xFFFE) == 0xFFFE
}

/// Rejects control characters and non-characters, naming the first one found.
pub fn check_text(s: &str) -> Result<(), String> {
    match first_refused(s) {
        Some(c) => Err(format!(
            "contains the control or non-character U+{:04X}",
            c as u32
        )),
        None => Ok(()),
    }
}

/// Removes what `check_text` would reject; for text from sources we do not control.
pub fn strip_invalid_chars(s: &str) -> String {
    if first_refused(s).is_none() {
        return s.to_owned();
    }
    s.chars().filter(|c| allowed(*c)).collect()
}

/// The first character [`allowed`] refuses. Only a character whose UTF-8 form begins with an
/// ASCII control, 0x7F, 0xC2 (the C1 controls), 0xEF (U+FDD0–U+FDEF, U+FFFE, U+FFFF) or
/// 0xF0–0xF4 (the non-characters of planes 1–16) can be: the other bytes (Chinese text is
/// mostly 0xE4–0xE9 and continuation bytes, which none of these are) are passed without
/// decoding. Decoding every character had been 5 % of preparing files for `tidings import`
/// (issue 15).
fn first_refused(s: &str) -> Option<char> {
    let bytes = s.as_bytes();
    let suspect = |b: &u8| *b < 0x20 || *b == 0x7F || *b == 0xC2 || *b == 0xEF || *b >= 0xF0;
    let mut at = 0;
    while let Some(skip) = bytes[at..].iter().position(suspect) {
        at += skip;
        // A suspect byte is ASCII or the first byte of a character: on a boundary.
        let c = s[at..].chars().next()?;
        if !allowed(c) {
            return Some(c);
        }
        at += c.len_utf8();
    }
    None
}

/// `s` with its first letter upper-cased (no change to Chinese): a name written for the middle
/// of a sentence ("the daily digest") as a title or label.
pub fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_becomes_a_title_with_its_first_letter_upper_cased() {
        assert_eq!(upper_first("daily digest"), "Daily digest");
        assert_eq!(upper_first("每日摘要"), "每日摘要");
        assert_eq!(upper_first(""), "");
    }

    #[test]
    fn the_byte_scan_refuses_exactly_the_characters_not_allowed() {
        for u in 0..=0x10FFFF_u32 {
            let Some(c) = char::from_u32(u) else { continue };
            let text = format!("工{c}会");
            assert_eq!(
                check_text(&text).is_ok(),
                allowed(c),
                "U+{u:04X} judged differently"
            );
            assert_eq!(first_refused(&text), (!allowed(c)).then_some(c));
        }
    }

    #[test]
    fn rejects_nul_backspace_and_fffe_but_keeps_cjk_and_emoji() {
        assert!(check_text("工会要闻 ✊🏽 tab\there\n").is_ok());
        for bad in [
            "a\u{0}b",
            "a\u{8}b",
            "a\u{FFFE}b",
            "\u{FFFF}",
            "\u{1FFFF}",
            "\u{85}",
        ] {
            assert!(check_text(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(strip_invalid_chars("a\u{0}b\u{8}c\u{FFFE}"), "abc");
    }
}
