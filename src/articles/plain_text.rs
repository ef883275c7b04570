//! The visible text of HTML, as a browser would lay it out on one line: block elements
//! separate words, inline elements (`<b>`, `<a>`, `<span>` …) never do, and whitespace collapses
//! as CSS collapses it, including its rule for line breaks between Chinese characters.

use scraper::{Html, Node};

/// Elements whose boundaries separate words (a line or a cell of their own when displayed).
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Elements whose content is never shown as text.
const HIDDEN: &[&str] = &[
    "head", "iframe", "noscript", "object", "script", "style", "template", "title",
];

/// Visible text of HTML: tags dropped, entities decoded, whitespace collapsed; a space where
/// a block element begins or ends, nothing where an inline one does.
pub fn html_to_text(html: &str) -> String {
    let fragment = Html::parse_fragment(html);
    let root = fragment.root_element();
    let mut words = Words::default();
    // Walked without recursion (pre-order, then back up through the parents), so that deeply
    // nested markup costs no stack.
    let mut at = root.first_child();
    while let Some(node) = at {
        let mut enter = false;
        match node.value() {
            Node::Text(t) => words.text(t),
            Node::Element(e) if !HIDDEN.contains(&e.name()) => {
                if BLOCKS.contains(&e.name()) {
                    words.block();
                }
                enter = true;
            }
            _ => {}
        }
        if let Some(child) = node.first_child().filter(|_| enter) {
            at = Some(child);
            continue;
        }
        let mut done = node;
        at = loop {
            if let Node::Element(e) = done.value()
                && BLOCKS.contains(&e.name())
            {
                words.block();
            }
            if let Some(next) = done.next_sibling() {
                break Some(next);
            }
            match done.parent() {
                Some(parent) if parent.id() != root.id() => done = parent,
                _ => break None,
            }
        };
    }
    words.out
}

/// What separates the last character written from the next one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    #[default]
    None,
    /// Spaces or tabs: one space.
    Space,
    /// Whitespace holding a line break: one space, or nothing between two Chinese characters
    /// (CSS Text 3, segment break transformation).
    LineBreak,
    /// A block element began or ended here.
    Block,
}

#[derive(Default)]
struct Words {
    out: String,
    gap: Gap,
}

impl Words {
    fn text(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_whitespace() {
                let gap = if matches!(c, '\n' | '\r') {
                    Gap::LineBreak
                } else {
                    Gap::Space
                };
                self.gap = self.gap.max(gap);
            } else {
                self.push(c);
            }
        }
    }

    fn block(&mut self) {
        self.gap = Gap::Block;
    }

    fn push(&mut self, c: char) {
        if let Some(prev) = self.out.chars().next_back() {
            let space = match self.gap {
                Gap::None => false,
                Gap::Space => true,
                Gap::LineBreak => !(is_cjk(prev) && is_cjk(c)),
                // Full-width punctuation carries its own spacing: "。" then a new paragraph
                // reads right without a space, a heading then its text does not.
                Gap::Block => !is_cjk_punctuation(prev),
            };
            if space {
                self.out.push(' ');
            }
        }
        self.gap = Gap::None;
        self.out.push(c);
    }
}

/// Han, kana, CJK symbols and full-width forms: scripts written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F | 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF |
        0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3134F)
}

fn is_cjk_punctuation(c: char) -> bool {
    matches!(c as u32, 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F)
        || "！＂，．：；？）］｝｠｡､“”‘’…—".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_next_to_a_digit_adds_no_space() {
        assert_eq!(
            html_to_text("<p>大会定于<b>2027年5月</b>在西宁召开。</p>"),
            "大会定于2027年5月在西宁召开。"
        );
        assert_eq!(
            html_to_text("<p>于<strong><em>2027年</em></strong>举行</p>"),
            "于2027年举行"
        );
    }

    #[test]
    fn inline_markup_inside_chinese_and_latin_words_adds_no_space() {
        assert_eq!(
            html_to_text("<p>中国<a href=\"https://x.org/\">职工</a>之家</p>"),
            "中国职工之家"
        );
        assert_eq!(
            html_to_text("<p>Qing<span>hai</span> <i>Federation</i>'s <b>news</b>letter</p>"),
            "Qinghai Federation's newsletter"
        );
        assert_eq!(
            html_to_text("<p>H<sub>2</sub>O, 10<sup>3</sup></p>"),
            "H2O, 103"
        );
    }

    #[test]
    fn block_elements_separate_words() {
        assert_eq!(
            html_to_text("<h2>Notice</h2><p>All members</p><ul><li>one</li><li>two</li></ul>"),
            "Notice All members one two"
        );
        assert_eq!(html_to_text("<p>工会</p><p>要闻</p>"), "工会 要闻");
        assert_eq!(
            html_to_text("first<br>second<hr>third"),
            "first second third"
        );
        assert_eq!(
            html_to_text("<table><tr><td>姓名</td><td>张三</td></tr></table>"),
            "姓名 张三"
        );
    }

    #[test]
    fn a_paragraph_after_full_width_punctuation_needs_no_space() {
        assert_eq!(
            html_to_text("<p>第一段结束。</p>\n<p>第二段开始！</p><p>“引语”</p><p>尾</p>"),
            "第一段结束。第二段开始！“引语”尾"
        );
    }

    #[test]
    fn whitespace_collapses_and_line_breaks_between_chinese_characters_vanish() {
        assert_eq!(
            html_to_text("<p>青海省\n  总工会  召开\t会议, in\nXining</p>"),
            "青海省总工会 召开 会议, in Xining"
        );
        assert_eq!(html_to_text("<p>于\n2027年</p>"), "于 2027年");
        assert_eq!(html_to_text("  <p> 两端 </p>  "), "两端");
    }

    #[test]
    fn entities_are_decoded_and_hidden_content_is_dropped() {
        assert_eq!(
            html_to_text(
                "<p>工会 &amp; A&lt;B&nbsp;&#x4E2D;</p><script>var a = '<p>x</p>';</script><style>p{}</style>"
            ),
            "工会 & A<B 中"
        );
        assert_eq!(html_to_text("<p>a<!-- note -->b</p>"), "ab");
        assert_eq!(html_to_text("<img src=\"x.png\" alt=\"图\">"), "");
    }

    #[test]
    fn attributes_holding_angle_brackets_do_not_leak_into_the_text() {
        assert_eq!(
            html_to_text("<p><a title=\"a>b\" href=\"/x\">链接</a>文字</p>"),
            "链接文字"
        );
    }

    #[test]
    fn deeply_nested_markup_is_walked_without_recursion() {
        let html = format!("{}深{}", "<span>".repeat(20_000), "</span>".repeat(20_000));
        assert_eq!(html_to_text(&html), "深");
    }
}
