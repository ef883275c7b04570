//! Reading pages of a web source with its CSS selectors: the article links of the list page,
//! and title, date, author and content of an article page. Pure functions over HTML text.

use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::articles::sanitize_html;

/// The parsed selectors of one web source.
pub struct Selectors {
    pub item: Selector,
    pub title: Selector,
    pub date: Selector,
    pub content: Selector,
    pub author: Option<Selector>,
    /// The selector texts, for messages that name them.
    pub text: SelectorText,
}

/// Selector texts as configured.
pub struct SelectorText {
    pub item: String,
    pub title: String,
    pub date: String,
    pub content: String,
}

/// Fields read from an article page; every string in UTF-8, not yet validated.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub title: String,
    pub date_text: String,
    /// Content with every link and image made absolute on the page's base.
    pub content_html: String,
    pub author: Option<String>,
}

fn parse(field: &str, s: &str) -> Result<Selector, String> {
    Selector::parse(s).map_err(|e| format!("{field} {s:?} is not a valid CSS selector: {e}"))
}

impl Selectors {
    /// Parses the configured selectors; the error names the one that is wrong.
    pub fn parse(
        item: &str,
        title: &str,
        date: &str,
        content: &str,
        author: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Self {
            item: parse("item_selector", item)?,
            title: parse("title_selector", title)?,
            date: parse("date_selector", date)?,
            content: parse("content_selector", content)?,
            author: author.map(|a| parse("author_selector", a)).transpose()?,
            text: SelectorText {
                item: item.to_owned(),
                title: title.to_owned(),
                date: date.to_owned(),
                content: content.to_owned(),
            },
        })
    }
}

/// The page's base for relative URLs: its `<base href>` when present, else its own URL.
fn document_base(doc: &Html, page: &Url) -> Url {
    let base = Selector::parse("base[href]").expect("literal selector");
    doc.select(&base)
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| page.join(href.trim()).ok())
        .unwrap_or_else(|| page.clone())
}

/// Absolute http(s) links of the elements `item` matches (an `<a>`, or the first `<a href>`
/// inside), in page order, without fragments or repeats, at most `max`.
pub fn list_links(html: &str, page: &Url, item: &Selector, max: usize) -> Vec<Url> {
    let doc = Html::parse_document(html);
    let base = document_base(&doc, page);
    let anchor = Selector::parse("a[href]").expect("literal selector");
    let mut out: Vec<Url> = Vec::new();
    for el in doc.select(item) {
        let href = el.value().attr("href").or_else(|| {
            el.select(&anchor)
                .next()
                .and_then(|a| a.value().attr("href"))
        });
        let Some(mut url) = href.and_then(|h| base.join(h.trim()).ok()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        url.set_fragment(None);
        if !out.contains(&url) {
            out.push(url);
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

/// Text of an element as a browser shows it: whitespace runs made one space, and no space
/// invented where inline markup begins or ends (`于<b>2027年</b>` stays "于2027年").
fn text_of(el: ElementRef<'_>) -> String {
    crate::articles::plain_text::html_to_text(&el.inner_html())
}

/// Reads an article page; the error names the selector that matched nothing.
pub fn article(html: &str, page: &Url, sel: &Selectors) -> Result<Extracted, String> {
    let doc = Html::parse_document(html);
    let base = document_base(&doc, page);
    let missing = |field: &str, s: &str| format!("{field} {s:?} matched nothing");
    let title = doc
        .select(&sel.title)
        .map(text_of)
        .find(|t| !t.is_empty())
        .ok_or_else(|| missing("title_selector", &sel.text.title))?;
    let date_el = doc
        .select(&sel.date)
        .next()
        .ok_or_else(|| missing("date_selector", &sel.text.date))?;
    // <time datetime> and <meta content> hold the machine-readable form.
    let date_text = ["datetime", "content"]
        .iter()
        .find_map(|a| date_el.value().attr(a))
        .map(str::to_owned)
        .unwrap_or_else(|| text_of(date_el));
    let parts: Vec<ElementRef<'_>> = doc.select(&sel.content).collect();
    let raw = match parts.as_slice() {
        [] => return Err(missing("content_selector", &sel.text.content)),
        [one] => one.inner_html(),
        many => many.iter().map(|e| e.html()).collect::<Vec<_>>().join("\n"),
    };
    let author = sel
        .author
        .as_ref()
        .and_then(|a| doc.select(a).map(text_of).find(|t| !t.is_empty()))
        .map(|a| strip_label(&a).to_owned())
        .filter(|a| !a.is_empty());
    Ok(Extracted {
        title,
        date_text,
        content_html: sanitize_html(&raw, Some(&base)),
        author,
    })
}

/// `作者：张鹏` → `张鹏`: drops a short label before a colon.
fn strip_label(s: &str) -> &str {
    for sep in ['：', ':'] {
        if let Some((label, rest)) = s.split_once(sep)
            && label.chars().count() <= 6
        {
            return rest.trim();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selectors() -> Selectors {
        Selectors::parse(
            "ul.list li",
            "h1",
            ".info .date",
            ".body",
            Some(".info .author"),
        )
        .unwrap()
    }

    #[test]
    fn list_links_are_absolute_unique_and_in_order() {
        let page = Url::parse("http://site.test/news/index.html").unwrap();
        let html = r##"<ul class="list"><li><a href="2025/0221/a.html#top">甲</a></li>
            <li><span><a href="/news/b.html">乙</a></span></li><li><a href="2025/0221/a.html">甲</a></li>
            <li><a href="javascript:void(0)">丙</a></li><li>无链接</li></ul>"##;
        let links = list_links(html, &page, &selectors().item, 10);
        let got: Vec<&str> = links.iter().map(Url::as_str).collect();
        assert_eq!(
            got,
            [
                "http://site.test/news/2025/0221/a.html",
                "http://site.test/news/b.html"
            ]
        );
    }

    #[test]
    fn article_fields_are_read_and_relative_urls_made_absolute() {
        let page = Url::parse("http://site.test/news/2025/0221/a.html").unwrap();
        let html = r#"<html><head><title>站点</title></head><body><h1> 青海 绿色算力 </h1>
            <div class="info"><span class="date">发布时间：2025-02-21 09:30</span>
            <span class="author">作者：张鹏</span></div>
            <div class="body"><p>正文<a href="../b.html">链接</a><img src="img/1.jpg"></p>
            <script>track()</script></div></body></html>"#;
        let a = article(html, &page, &selectors()).unwrap();
        assert_eq!(a.title, "青海 绿色算力");
        assert_eq!(a.date_text, "发布时间：2025-02-21 09:30");
        assert_eq!(a.author.as_deref(), Some("张鹏"));
        assert!(
            a.content_html
                .contains(r#"href="http://site.test/news/2025/b.html""#),
            "{}",
            a.content_html
        );
        assert!(
            a.content_html
                .contains(r#"src="http://site.test/news/2025/0221/img/1.jpg""#)
        );
        assert!(!a.content_html.contains("track"));
    }

    #[test]
    fn a_title_with_inline_markup_gains_no_space() {
        let page = Url::parse("http://site.test/a.html").unwrap();
        let html = r#"<h1>大会于<b>2027年5月</b>在<a href="x">西宁</a>开幕 <em>Hello</em>World</h1>
            <div class="info"><span class="date">2025-02-21</span></div><div class="body">x</div>"#;
        let a = article(html, &page, &selectors()).unwrap();
        assert_eq!(a.title, "大会于2027年5月在西宁开幕 HelloWorld");
    }

    #[test]
    fn a_selector_that_matches_nothing_is_named() {
        let page = Url::parse("http://site.test/a.html").unwrap();
        let err = article("<h1>标题</h1><p>无日期</p>", &page, &selectors()).unwrap_err();
        assert!(err.contains("date_selector \".info .date\""), "{err}");
    }
}
