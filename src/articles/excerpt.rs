//! Plain text from HTML and CJK-aware summaries.

use unicode_segmentation::UnicodeSegmentation;

/// Target length of a derived summary, in characters (grapheme clusters).
pub const SUMMARY_CHARS: usize = 120;

/// Visible text of (sanitised) HTML: tags dropped, entities decoded, whitespace collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                // Block boundaries must not glue two words together.
                text.push(' ');
            }
            (true, '>') => in_tag = false,
            (false, c) => text.push(c),
            (true, _) => {}
        }
    }
    let decoded = html_escape::decode_html_entities(&text);
    collapse_whitespace(&decoded)
}

fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                // No space between two CJK characters: the break came from markup, not text.
                let prev_cjk = out.chars().next_back().is_some_and(is_cjk);
                if !(prev_cjk && is_cjk(c)) {
                    out.push(' ');
                }
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F | 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF |
        0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3134F)
}

fn is_sentence_end(g: &str) -> bool {
    matches!(
        g,
        "。" | "！" | "？" | "；" | "!" | "?" | ";" | "…" | "”" | "」"
    )
}

/// Shortens `text` to about `max` characters on a whole-character boundary, preferring a
/// sentence end, never splitting a Latin word, and ending with "…" when it cut anything.
pub fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    let graphemes: Vec<&str> = text.graphemes(true).collect();
    if graphemes.len() <= max {
        return text.to_owned();
    }
    let window = &graphemes[..max];
    // Prefer the last sentence end in the final third of the window.
    let min_keep = max * 2 / 3;
    let cut = window
        .iter()
        .rposition(|g| is_sentence_end(g))
        .filter(|&i| i + 1 >= min_keep)
        .map(|i| i + 1)
        .or_else(|| {
            // Otherwise avoid splitting a Latin word: back up to the last space if the cut
            // falls inside one.
            let next = graphemes[max];
            let inside_word = next.chars().all(char::is_alphanumeric)
                && !next.chars().any(is_cjk)
                && window[max - 1].chars().all(char::is_alphanumeric);
            if inside_word {
                window
                    .iter()
                    .rposition(|g| g.chars().all(char::is_whitespace))
                    .filter(|&i| i >= min_keep)
            } else {
                None
            }
        })
        .unwrap_or(max);
    let mut out: String = graphemes[..cut].concat();
    let trimmed_len = out
        .trim_end_matches(|c: char| c.is_whitespace() || "，、,:：；;—-".contains(c))
        .len();
    out.truncate(trimmed_len);
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(excerpt("工会要闻", 120), "工会要闻");
    }

    #[test]
    fn long_cjk_text_is_cut_on_whole_characters_with_ellipsis() {
        let text = "青海正在书写一个关于选择的中国故事".repeat(20);
        let e = excerpt(&text, 120);
        assert!(e.ends_with('…'));
        assert!(e.chars().count() <= 121);
        assert!(text.starts_with(e.trim_end_matches('…')));
    }

    #[test]
    fn prefers_a_sentence_end() {
        let text = format!("{}。{}", "甲".repeat(100), "乙".repeat(100));
        assert_eq!(excerpt(&text, 120), format!("{}。…", "甲".repeat(100)));
    }

    #[test]
    fn latin_words_are_not_split_and_emoji_stay_whole() {
        let text = "word ".repeat(40);
        let e = excerpt(&text, 120);
        assert!(
            e.trim_end_matches('…').split(' ').all(|w| w == "word"),
            "{e}"
        );
        let flags = "👨‍👩‍👧".repeat(200);
        let e = excerpt(&flags, 120);
        assert_eq!(e.trim_end_matches('…').graphemes(true).count(), 120);
    }

    #[test]
    fn html_text_drops_tags_and_decodes_entities() {
        assert_eq!(
            html_to_text("<p>工会</p><p>要闻 &amp; A&lt;B</p>"),
            "工会要闻 & A<B"
        );
    }
}
