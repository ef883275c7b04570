//! Whole-document checks of RSS and Atom feeds against the W3C Feed Validation Service's
//! rules, built from the single rules in [`super::w3c`].

use chrono::{DateTime, Utc};
use roxmltree::Document;

use super::w3c::*;

/// Checks an RSS 2.0 feed served at `self_url`; returns its guids in order.
pub fn check_rss(raw: &str, self_url: &str, items: usize, now: DateTime<Utc>) -> Vec<String> {
    let what = self_url;
    assert_clean_document(raw, what);
    let doc = Document::parse(raw).unwrap_or_else(|e| panic!("not well-formed XML: {what}: {e}"));
    let rss = doc.root_element();
    assert_eq!(rss.tag_name().name(), "rss");
    assert_eq!(rss.attribute("version"), Some("2.0"));
    let channels: Vec<_> = kids(rss).collect();
    assert_eq!(channels.len(), 1, "one channel");
    let ch = channels[0];
    assert_no_duplicates(
        ch,
        &[
            "title",
            "link",
            "description",
            "language",
            "lastBuildDate",
            "generator",
        ],
        what,
    );
    let title = child_text(ch, "title").expect("MissingTitle");
    assert!(!title.trim().is_empty(), "NotBlank channel title");
    assert_no_html(title, "channel title");
    assert_full_uri(child_text(ch, "link").expect("MissingLink"), "channel link");
    assert!(
        child_text(ch, "description").is_some(),
        "MissingDescription"
    );
    assert_eq!(child_text(ch, "language"), Some("zh-CN"), "language");
    assert_rfc822(
        child_text(ch, "lastBuildDate").expect("lastBuildDate"),
        "lastBuildDate",
        now,
    );
    let self_link = kids(ch)
        .find(|n| {
            n.tag_name().namespace() == Some(ATOM_NS)
                && n.tag_name().name() == "link"
                && n.attribute("rel") == Some("self")
        })
        .expect("MissingAtomSelfLink");
    assert_eq!(
        self_link.attribute("href"),
        Some(self_url),
        "SelfDoesntMatchLocation"
    );
    assert_eq!(
        self_link.attribute("type"),
        Some("application/rss+xml"),
        "SelfNotAtom"
    );

    let items_nodes: Vec<_> = kids(ch).filter(|n| n.tag_name().name() == "item").collect();
    assert_eq!(items_nodes.len(), items, "item count of {what}");
    let mut guids = Vec::new();
    for item in items_nodes {
        let guid = kids(item)
            .find(|n| n.tag_name().name() == "guid")
            .expect("MissingGuid");
        let id = guid.text().unwrap_or("");
        let what = &format!("{what} item {id}");
        assert_no_duplicates(
            item,
            &[
                "title",
                "link",
                "description",
                "guid",
                "pubDate",
                "enclosure",
            ],
            what,
        );
        assert!(
            kids(item)
                .filter(|n| n.tag_name().name() == "encoded")
                .count()
                <= 1,
            "DuplicateElement content:encoded"
        );
        assert_eq!(
            guid.attribute("isPermaLink"),
            Some("false"),
            "guid is an id, not a link"
        );
        assert_tag_uri(id, what);
        guids.push(id.to_owned());
        let title = child_text(item, "title").expect("MissingItemTitle");
        assert!(!title.trim().is_empty(), "NotBlank title in {what}");
        assert_no_html(title, what);
        assert_full_uri(child_text(item, "link").expect("link"), what);
        assert_rfc822(child_text(item, "pubDate").expect("pubDate"), what, now);
        assert!(
            child_text(item, "author").is_none(),
            "InvalidContact: names go in dc:creator, {what}"
        );
        let names: Vec<&str> = kids(item).map(|n| n.tag_name().name()).collect();
        let desc = names
            .iter()
            .position(|n| *n == "description")
            .expect("description");
        if let Some(content) = names.iter().position(|n| *n == "encoded") {
            assert!(desc < content, "NeedDescriptionBeforeContent in {what}");
            assert_safe_html(child_text(item, "encoded").unwrap(), what);
        }
        assert_safe_html(child_text(item, "description").unwrap(), what);
        for cat in kids(item).filter(|n| n.tag_name().name() == "category") {
            let t = cat.text().unwrap_or("");
            assert!(!t.trim().is_empty(), "NotBlank category in {what}");
            assert_no_html(t, what);
        }
        if let Some(enc) = kids(item).find(|n| n.tag_name().name() == "enclosure") {
            let url = enc.attribute("url").expect("enclosure url");
            assert!(
                url.starts_with("http") && url.split('/').nth(2).unwrap().contains('.'),
                "InvalidURLAttribute {url}"
            );
            assert_full_uri(url, what);
            assert!(
                enc.attribute("length")
                    .expect("length")
                    .parse::<u64>()
                    .is_ok(),
                "InvalidIntegerAttribute"
            );
            assert_mime(enc.attribute("type").expect("MissingAttribute type"), what);
        }
        for media in kids(item).filter(|n| {
            n.tag_name().name() == "content"
                && n.tag_name().namespace() == Some("http://search.yahoo.com/mrss/")
        }) {
            assert_full_uri(media.attribute("url").expect("media url"), what);
            assert_eq!(media.attribute("medium"), Some("image"));
            if let Some(t) = media.attribute("type") {
                assert_mime(t, what);
            }
        }
    }
    assert_unique(guids.iter().map(String::as_str), "guid");
    guids
}

/// Checks an Atom feed served at `self_url`; returns its entry ids in order.
pub fn check_atom(raw: &str, self_url: &str, items: usize, now: DateTime<Utc>) -> Vec<String> {
    let what = self_url;
    assert_clean_document(raw, what);
    let doc = Document::parse(raw).unwrap_or_else(|e| panic!("not well-formed XML: {what}: {e}"));
    let feed = doc.root_element();
    assert_eq!(
        (feed.tag_name().namespace(), feed.tag_name().name()),
        (Some(ATOM_NS), "feed")
    );
    assert_eq!(xml_lang(&doc), Some("zh-CN"), "xml:lang");
    let names: Vec<&str> = kids(feed).map(|n| n.tag_name().name()).collect();
    if let Some(first) = names.iter().position(|n| *n == "entry") {
        assert!(
            names[first..].iter().all(|n| *n == "entry"),
            "MisplacedMetadata in {what}"
        );
    }
    assert_no_duplicates(
        feed,
        &["title", "id", "updated", "subtitle", "generator"],
        what,
    );
    assert!(
        !child_text(feed, "title").expect("title").trim().is_empty(),
        "NotBlank title"
    );
    assert_tag_uri(child_text(feed, "id").expect("id"), "feed id");
    assert_rfc3339(
        child_text(feed, "updated").expect("updated"),
        "feed updated",
        now,
    );
    if let Some(sub) = child_text(feed, "subtitle") {
        assert!(!sub.trim().is_empty(), "NotBlank subtitle");
    }
    let author = kids(feed)
        .find(|n| n.tag_name().name() == "author")
        .expect("feed author (entries may have none)");
    assert!(
        !child_text(author, "name").unwrap_or("").trim().is_empty(),
        "author name"
    );
    check_links(feed, what);
    let self_link = kids(feed)
        .find(|n| n.tag_name().name() == "link" && n.attribute("rel") == Some("self"))
        .expect("MissingSelf");
    assert_eq!(
        self_link.attribute("href"),
        Some(self_url),
        "SelfDoesntMatchLocation"
    );
    assert_eq!(self_link.attribute("type"), Some("application/atom+xml"));

    let entries: Vec<_> = kids(feed)
        .filter(|n| n.tag_name().name() == "entry")
        .collect();
    assert_eq!(entries.len(), items, "entry count of {what}");
    let (mut ids, mut updated) = (Vec::new(), Vec::new());
    for e in entries {
        let id = child_text(e, "id").expect("entry id");
        let what = &format!("{what} entry {id}");
        assert_no_duplicates(
            e,
            &["id", "title", "updated", "published", "summary", "content"],
            what,
        );
        assert_tag_uri(id, what);
        ids.push(id.to_owned());
        let title = kids(e)
            .find(|n| n.tag_name().name() == "title")
            .expect("title");
        assert!(
            !title.text().unwrap_or("").trim().is_empty(),
            "NotBlank title in {what}"
        );
        assert_no_html(title.text().unwrap_or(""), what);
        let up = child_text(e, "updated").expect("updated");
        assert_rfc3339(up, what, now);
        updated.push(
            DateTime::parse_from_rfc3339(up)
                .unwrap()
                .to_utc()
                .to_rfc3339(),
        );
        assert_rfc3339(child_text(e, "published").expect("published"), what, now);
        check_links(e, what);
        let content = kids(e).find(|n| n.tag_name().name() == "content");
        let summary = kids(e).find(|n| n.tag_name().name() == "summary");
        assert!(
            content.is_some() || summary.is_some(),
            "MissingTextualContent in {what}"
        );
        if let Some(c) = content {
            assert_eq!(c.attribute("type"), Some("html"));
            assert!(
                !c.text().unwrap_or("").trim().is_empty(),
                "NotBlank content in {what}"
            );
            assert_safe_html(c.text().unwrap(), what);
        }
        if let Some(s) = summary {
            assert!(
                !s.text().unwrap_or("").trim().is_empty(),
                "NotBlank summary in {what}"
            );
            assert_no_html(s.text().unwrap(), what);
        }
        for cat in kids(e).filter(|n| n.tag_name().name() == "category") {
            assert!(
                !cat.attribute("term").unwrap_or("").trim().is_empty(),
                "category term"
            );
        }
    }
    assert_unique(ids.iter().map(String::as_str), "DuplicateEntries id");
    assert_unique(updated.iter().map(String::as_str), "DuplicateUpdated");
    ids
}

/// Registered rel values, IRIs, MIME types, and one alternate link per (type, hreflang).
fn check_links(parent: roxmltree::Node, what: &str) {
    let mut alternates = std::collections::HashSet::new();
    for l in kids(parent).filter(|n| n.tag_name().name() == "link") {
        let rel = l.attribute("rel").unwrap_or("alternate");
        assert!(
            ["alternate", "self", "enclosure", "hub", "related", "via"].contains(&rel),
            "UnregisteredAtomLinkRel {rel}"
        );
        assert_full_uri(l.attribute("href").expect("MissingHref"), what);
        if let Some(t) = l.attribute("type") {
            assert_mime(t, what);
        }
        if let Some(t) = l.attribute("title") {
            assert_no_html(t, what);
        }
        if rel == "alternate" {
            let key = (l.attribute("type"), l.attribute("hreflang"));
            assert!(alternates.insert(key), "DuplicateAtomLink in {what}");
        }
    }
}
