//! Atom 1.0 (RFC 4287) rendering with the `atom_syndication` crate: `xml:lang` on the feed,
//! a feed-level author so every entry has one, `tag:` ids, one alternate link per type,
//! RFC 3339 dates, HTML content as `type="html"`.

use atom_syndication::{
    Category, Content, Entry, Feed, Generator, Link, Person, Text, WriteConfig,
};

use super::{
    doc::{self, FeedDoc},
    site::{Format, Site},
    xml,
};

/// The Atom document of `doc`, UTF-8.
pub fn render(site: &Site, doc: &FeedDoc) -> Vec<u8> {
    let mut links = vec![
        link(
            &site.feed_url(&doc.slug, Format::Atom),
            "self",
            Some(Format::Atom.media_type()),
        ),
        link(site.home_url(), "alternate", Some("text/html")),
    ];
    if let Some(hub) = &site.hub {
        links.push(link(hub, "hub", None));
    }
    let feed = Feed {
        title: Text::plain(doc.title.clone()),
        id: site.feed_id(&doc.slug),
        updated: doc.updated,
        authors: vec![person(&site.title)],
        generator: Some(Generator {
            value: "tidings".into(),
            uri: None,
            version: None,
        }),
        links,
        subtitle: Some(Text::plain(doc.description.clone())),
        entries: doc.items.iter().map(entry).collect(),
        lang: Some(site.language.clone()),
        ..Feed::default()
    };
    let out = feed
        .write_with_config(Vec::with_capacity(64 * 1024), WriteConfig::default())
        .expect("writing XML into memory cannot fail");
    xml::hex_refs(out)
}

fn link(href: &str, rel: &str, mime_type: Option<&str>) -> Link {
    Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: mime_type.map(str::to_owned),
        ..Link::default()
    }
}

fn person(name: &str) -> Person {
    Person {
        name: name.to_owned(),
        ..Person::default()
    }
}

fn entry(i: &doc::Item) -> Entry {
    let mut links = vec![link(&i.link, "alternate", Some("text/html"))];
    if let Some(img) = &i.image {
        let mut enclosure = link(&img.url, "enclosure", img.mime);
        enclosure.title = img.caption.clone();
        links.push(enclosure);
    }
    let html = i.full_html();
    let has_content = !html.trim().is_empty();
    // An entry needs some text: without content or summary, the title stands in.
    let summary = match (i.summary.trim().is_empty(), has_content) {
        (false, _) => Some(i.summary.clone()),
        (true, true) => None,
        (true, false) => Some(i.title.clone()),
    };
    Entry {
        title: Text::plain(i.title.clone()),
        id: i.id.clone(),
        updated: i.updated,
        published: Some(i.published),
        authors: i.author.iter().map(|a| person(a)).collect(),
        categories: i
            .tags
            .iter()
            .map(|t| Category {
                term: t.clone(),
                scheme: None,
                label: None,
            })
            .collect(),
        links,
        summary: summary.map(Text::plain),
        content: has_content.then(|| Content {
            content_type: Some("html".into()),
            value: Some(html.into_owned()),
            ..Content::default()
        }),
        ..Entry::default()
    }
}
