//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>) rendering with serde.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serialize;

use super::{
    doc::{self, FeedDoc},
    site::{Format, Site},
};

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: String,
    description: &'a str,
    language: &'a str,
    authors: [Author<'a>; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub<'a>>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Hub<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    content_html: Cow<'a, str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [String],
    /// The picture again, with its caption (JSON Feed's `image` has no place for one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment<'a>>,
}

#[derive(Serialize)]
struct Attachment<'a> {
    url: &'a str,
    mime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

fn date(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The JSON Feed document of `doc`, UTF-8.
pub fn render(site: &Site, doc: &FeedDoc) -> Vec<u8> {
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &doc.title,
        home_page_url: site.home_url(),
        feed_url: site.feed_url(&doc.slug, Format::Json),
        description: &doc.description,
        language: &site.language,
        authors: [Author { name: &site.title }],
        hubs: site
            .hub
            .iter()
            .map(|url| Hub {
                kind: "WebSub",
                url,
            })
            .collect(),
        items: doc.items.iter().map(item).collect(),
    };
    serde_json::to_vec(&feed).expect("feed structs always serialise")
}

fn item(i: &doc::Item) -> JsonItem<'_> {
    JsonItem {
        id: &i.id,
        url: &i.link,
        title: &i.title,
        content_html: i.full_html(),
        summary: &i.summary,
        image: i.image.as_ref().map(|img| img.url.as_str()),
        date_published: date(&i.published),
        date_modified: date(&i.updated),
        authors: i.author.iter().map(|name| Author { name }).collect(),
        tags: &i.tags,
        attachments: i
            .image
            .iter()
            .map(|img| Attachment {
                url: &img.url,
                mime_type: img.mime.unwrap_or("application/octet-stream"),
                title: img.caption.as_deref(),
            })
            .collect(),
    }
}
