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
    match s.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!(
            "contains the control or non-character U+{:04X}",
            c as u32
        )),
        None => Ok(()),
    }
}

/// Removes what `check_text` would reject; for text from sources we do not control.
pub fn strip_invalid_chars(s: &str) -> String {
    if s.chars().all(allowed) {
        return s.to_owned();
    }
    s.chars().filter(|c| allowed(*c)).collect()
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
