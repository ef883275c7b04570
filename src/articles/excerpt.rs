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

/// The summary derived from an article's HTML when it has none: [`excerpt`] of its text.
///
/// The excerpt looks at the first `SUMMARY_CHARS + 1` characters only, so when the markup is
/// long, the text of a prefix that ends before a tag is used if it holds enough of them (with
/// a margin); the same summary, without parsing the whole body. Parsing every body whole was
/// the largest single cost of preparing files for `tidings import` (issue 15); a 1 kB prefix
/// holds the window in most bodies (Chinese takes three bytes a character), 4 kB in nearly
/// all the rest.
pub fn summary_of(html: &str) -> String {
    const PREFIXES: [usize; 2] = [1024, 4096];
    const MARGIN: usize = 8;
    for limit in PREFIXES {
        if html.len() <= limit {
            break;
        }
        let end = (0..=limit)
            .rev()
            .find(|&i| html.is_char_boundary(i))
            .unwrap_or(0);
        if let Some(cut) = html[..end].rfind('<').filter(|&c| c > 0) {
            let text = html_to_text(&html[..cut]);
            let enough = text.trim().graphemes(true).nth(SUMMARY_CHARS + MARGIN);
            if enough.is_some() {
                return excerpt(&text, SUMMARY_CHARS);
            }
        }
    }
    excerpt(&html_to_text(html), SUMMARY_CHARS)
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
    fn a_summary_from_a_prefix_equals_the_summary_of_the_whole_text() {
        let plain = |html: &str| excerpt(&html_to_text(html), SUMMARY_CHARS);
        let para =
            "<p>全省各级工会组织深入学习贯彻党的二十大精神，扎实推进产业工人队伍建设改革。</p>\n";
        let latin = "<p>The federation <a href=\"https://example.org/?q=a<b\" title=\"x<y\">met</a> \
                     with <em>delegates</em> of 12 unions on Monday.</p>\n";
        let mut cases = vec![
            // Long bodies: Chinese, Latin words (the cut backs up to a space), mixed, with
            // markup and an attribute holding '<' near the prefix's end.
            para.repeat(80),
            latin.repeat(80),
            format!("{}{}", latin.repeat(3), para.repeat(60)),
            format!(
                "<h2>标题</h2><figure><img src=\"a.jpg\" alt=\"图\"><figcaption>说明</figcaption></figure>{}",
                para.repeat(70)
            ),
            // Little text in a long prefix (the whole body is parsed), too little in the
            // first prefix but enough in the second, and short bodies.
            format!("<p>{}</p>{}", "<b></b>".repeat(700), para.repeat(10)),
            format!("<p>{}</p>{}", "<b></b>".repeat(140), para.repeat(10)),
            format!("<p>{}</p>", "好".repeat(2000)),
            para.to_owned(),
            String::new(),
        ];
        // Every cut position around each prefix's end.
        for pad in 0..160 {
            cases.push(format!("<p>{}</p>{}", "x".repeat(pad), latin.repeat(40)));
            cases.push(format!("<p>{}</p>{}", "好".repeat(pad), para.repeat(40)));
        }
        for html in &cases {
            assert_eq!(
                summary_of(html),
                plain(html),
                "{}",
                &html[..html.len().min(200)]
            );
        }
    }

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
