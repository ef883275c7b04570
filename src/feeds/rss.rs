//! RSS 2.0 rendering with the `rss` crate, following the RSS Best Practices Profile that the
//! W3C Feed Validation Service checks: `atom:link rel="self"`, `dc:creator` for names (RSS
//! `author` must be an e-mail address), a `guid` that is not a permalink, RFC 822 dates.

use std::collections::BTreeMap;

use rss::{
    Category, Channel, Enclosure, Guid, Item,
    extension::{Extension, atom::AtomExtension, dublincore::DublinCoreExtension},
};

use super::{
    doc::{self, FeedDoc},
    site::{Format, Site},
    xml,
};

const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";

/// The RSS 2.0 document of `doc`, UTF-8.
pub fn render(site: &Site, doc: &FeedDoc) -> Vec<u8> {
    let mut links = vec![atom_link(&site.feed_url(&doc.slug, Format::Rss), "self")];
    if let Some(hub) = &site.hub {
        links.push(atom_link(hub, "hub"));
    }
    let mut channel = Channel {
        title: doc.title.clone(),
        link: site.home_url().to_owned(),
        description: doc.description.clone(),
        language: Some(site.language.clone()),
        last_build_date: Some(doc.updated.to_rfc2822()),
        generator: Some("tidings".into()),
        atom_ext: Some(AtomExtension { links }),
        items: doc.items.iter().map(item).collect(),
        ..Channel::default()
    };
    if doc.items.iter().any(|i| i.image.is_some()) {
        channel.namespaces.insert("media".into(), MEDIA_NS.into());
    }
    let out = channel
        .write_to(Vec::with_capacity(64 * 1024))
        .expect("writing XML into memory cannot fail");
    xml::hex_refs(out)
}

fn atom_link(href: &str, rel: &str) -> atom_syndication::Link {
    atom_syndication::Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: (rel == "self").then(|| Format::Rss.media_type().to_owned()),
        ..Default::default()
    }
}

fn item(i: &doc::Item) -> Item {
    let mut extensions = BTreeMap::new();
    if let Some(img) = &i.image {
        extensions.insert(
            "media".to_owned(),
            BTreeMap::from([("content".to_owned(), vec![media_content(img)])]),
        );
    }
    Item {
        title: Some(i.title.clone()),
        link: Some(i.link.clone()),
        // RSS descriptions are HTML: the lead figure, then the summary, plain text escaped.
        description: Some(format!(
            "{}{}",
            i.figure_html,
            html_escape::encode_text(&i.summary)
        )),
        categories: i
            .tags
            .iter()
            .map(|t| Category {
                name: t.clone(),
                domain: None,
            })
            .collect(),
        // Length 0 means "unknown" in RSS 2.0; the image is not fetched to measure it.
        enclosure: i.image.as_ref().and_then(|img| {
            Some(Enclosure {
                url: img.url.clone(),
                length: "0".into(),
                mime_type: img.mime?.into(),
            })
        }),
        guid: Some(Guid {
            value: i.id.clone(),
            permalink: false,
        }),
        pub_date: Some(i.published.to_rfc2822()),
        content: Some(i.full_html().into_owned()).filter(|html| !html.trim().is_empty()),
        dublin_core_ext: i.author.as_ref().map(|a| DublinCoreExtension {
            creators: vec![a.clone()],
            ..Default::default()
        }),
        extensions,
        ..Item::default()
    }
}

fn media_content(img: &doc::ItemImage) -> Extension {
    let mut attrs = BTreeMap::from([
        ("url".to_owned(), img.url.clone()),
        ("medium".to_owned(), "image".to_owned()),
    ]);
    if let Some(mime) = img.mime {
        attrs.insert("type".into(), mime.into());
    }
    let children = match &img.caption {
        Some(caption) => BTreeMap::from([(
            "description".to_owned(),
            vec![Extension {
                name: "media:description".into(),
                value: Some(caption.clone()),
                attrs: BTreeMap::from([("type".to_owned(), "plain".to_owned())]),
                children: BTreeMap::new(),
            }],
        )]),
        None => BTreeMap::new(),
    };
    Extension {
        name: "media:content".into(),
        value: None,
        attrs,
        children,
    }
}
