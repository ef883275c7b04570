//! CJK-aware summaries of an article's plain text (see [`html_to_text`]).

use unicode_segmentation::UnicodeSegmentation;

pub use super::plain_text::html_to_text;
use super::plain_text::is_cjk;

/// Target length of a derived summary, in characters (grapheme clusters).
pub const SUMMARY_CHARS: usize = 120;

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
    // One past the window is all the cut looks at: a long article's text is not walked whole
    // (splitting it all into graphemes was the largest part of preparing files for a bulk
    // import, issue 15).
    let graphemes: Vec<&str> = text.graphemes(true).take(max + 1).collect();
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
    fn a_summary_derived_from_marked_up_chinese_gains_no_space() {
        let html = format!(
            "<p>第十八次代表大会于<b>2027年5月</b>在<a href=\"https://x.org/\">西宁</a>召开。</p><p>{}</p>",
            "会议听取工作报告。".repeat(20)
        );
        let summary = excerpt(&html_to_text(&html), SUMMARY_CHARS);
        assert!(
            summary.starts_with("第十八次代表大会于2027年5月在西宁召开。会议听取"),
            "{summary}"
        );
        assert!(!summary.contains(' '), "{summary}");
    }
}
