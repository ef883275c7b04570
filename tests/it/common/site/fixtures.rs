//! Fixture sites: the repository's fixture articles (`content/`) published the way an old CMS
//! does, in UTF-8 or GBK, and the `[[sources]]` entries that watch them.

use tidings::config::SourceConfig;

use super::Site;

/// One fixture article as the fixture site shows it.
#[derive(Debug, Clone)]
pub struct FixtureArticle {
    pub slug: String,
    pub title: String,
    pub author: Option<String>,
    /// `published_at` of the fixture, RFC 3339.
    pub published_at: String,
    pub body_html: String,
}

/// The fixture articles of `content/`, oldest first.
pub fn fixture_articles() -> Vec<FixtureArticle> {
    let dir = crate::common::fixture_dir();
    let mut out = Vec::new();
    for rel in ["about/federation-intro.md", "news/qinghai-green-compute.md"] {
        let raw = std::fs::read_to_string(dir.join(rel)).unwrap();
        let rest = raw.strip_prefix("+++\n").unwrap();
        let end = rest.find("\n+++\n").unwrap();
        let front: toml::Table = toml::from_str(&rest[..end]).unwrap();
        let text = |k: &str| front.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        out.push(FixtureArticle {
            slug: rel
                .rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".md")
                .to_owned(),
            title: text("title").unwrap(),
            author: text("author"),
            published_at: text("published_at").unwrap(),
            body_html: tidings::articles::markdown_to_html(&rest[end + 5..]),
        });
    }
    out
}

/// A list page: `<ul class="list">` of links, newest first.
pub fn list_page(items: &[(String, String)], head: &str) -> String {
    let lis: String = items
        .iter()
        .map(|(href, title)| format!("<li><a href=\"{href}\">{title}</a></li>\n"))
        .collect();
    format!(
        "<!DOCTYPE html><html><head>{head}<title>工会要闻</title></head><body>\
         <div class=\"nav\"><a href=\"/\">首页</a></div><ul class=\"list\">\n{lis}</ul></body></html>"
    )
}

/// An article page with a relative image and link, and the date printed as `date_text`.
pub fn article_page(a: &FixtureArticle, date_text: &str, head: &str) -> String {
    let author = a
        .author
        .as_deref()
        .map(|n| format!("<span class=\"author\">作者：{n}</span>"))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html><html><head>{head}<title>{title}</title></head><body>\
         <h1 class=\"title\">{title}</h1><div class=\"info\"><span class=\"date\">{date_text}</span>{author}</div>\
         <div class=\"content\"><p><img src=\"../images/{slug}.jpg\" alt=\"图\"></p>{body}\
         <p><a href=\"../index.html\">返回列表</a></p><script>counter()</script></div></body></html>",
        title = a.title,
        slug = a.slug,
        body = a.body_html,
    )
}

/// How the fixture site prints each fixture's date (both are 09:00/10:00 in Asia/Shanghai).
pub fn printed_date(a: &FixtureArticle) -> &'static str {
    if a.slug == "qinghai-green-compute" {
        "发布时间：2025年02月21日 09:00 来源：青海日报"
    } else {
        "2024/12/1 10:00"
    }
}

/// Publishes the fixture articles under `/news/` in UTF-8; answers the articles in list order
/// (newest first) with their page paths.
pub fn serve_utf8_site(site: &Site) -> Vec<(String, FixtureArticle)> {
    let mut listed = Vec::new();
    for a in fixture_articles().into_iter().rev() {
        let path = format!("/news/2025/{}.html", a.slug);
        site.html(
            &path,
            &article_page(&a, printed_date(&a), "<meta charset=\"utf-8\">"),
        );
        listed.push((path, a));
    }
    let items: Vec<(String, String)> = listed
        .iter()
        .map(|(p, a)| (p.trim_start_matches("/news/").to_owned(), a.title.clone()))
        .collect();
    site.html("/news/index.html", &list_page(&items, ""));
    listed
}

/// Publishes the fixture articles under `/gbk/` encoded in GBK: the list page says so in its
/// HTTP header, the article pages only in a `<meta>` (as gb2312, which browsers read as GBK).
pub fn serve_gbk_site(site: &Site) -> Vec<(String, FixtureArticle)> {
    let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
    let mut listed = Vec::new();
    for a in fixture_articles().into_iter().rev() {
        let path = format!("/gbk/2025/{}.html", a.slug);
        let head = "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">";
        site.page(
            &path,
            "text/html",
            gbk(&article_page(&a, printed_date(&a), head)),
        );
        listed.push((path, a));
    }
    let items: Vec<(String, String)> = listed
        .iter()
        .map(|(p, a)| (p.trim_start_matches("/gbk/").to_owned(), a.title.clone()))
        .collect();
    site.page(
        "/gbk/index.html",
        "text/html; charset=GBK",
        gbk(&list_page(&items, "")),
    );
    listed
}

/// A web source on `list_url` with the fixture site's selectors.
pub fn web_source(name: &str, section: &str, list_url: &str) -> SourceConfig {
    SourceConfig::Web {
        name: Some(name.to_owned()),
        section: section.to_owned(),
        list_url: list_url.to_owned(),
        item_selector: "ul.list li a".into(),
        title_selector: "h1.title".into(),
        date_selector: ".info .date".into(),
        content_selector: "div.content".into(),
        author_selector: Some(".info .author".into()),
        interval: "10m".into(),
        timezone: None,
    }
}

/// A feed source on `url`.
pub fn feed_source(name: &str, section: &str, url: &str) -> SourceConfig {
    SourceConfig::Feed {
        name: Some(name.to_owned()),
        section: section.to_owned(),
        url: url.to_owned(),
        interval: "10m".into(),
    }
}
