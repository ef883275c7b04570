//! `GET /feeds.opml`: the subscription list readers import, one feed per section.
//!
//! One Atom feed each: listing every format made readers subscribe three times to the same
//! articles under one title (newsboat got 18 feeds, and JSON Feeds it cannot read), and the
//! `all` feed would show every article a second time next to its section's.

use std::fmt::Write;

use super::{
    site::{Format, Site},
    xml::escape,
};
use crate::store::FeedSection;

/// The OPML 2.0 document listing each section's Atom feed, in display order.
pub fn render(site: &Site, sections: &[FeedSection]) -> Vec<u8> {
    let mut out = String::with_capacity(512 + sections.len() * 300);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n<head>\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&site.title));
    out.push_str("</head>\n<body>\n");
    for s in sections {
        // The feed's own title, so that the list and the reader agree on the name.
        let title = escape(&site.feed_title(&s.title));
        let _ = write!(
            out,
            "<outline type=\"rss\" text=\"{title}\" title=\"{title}\" xmlUrl=\"{xml}\" \
             htmlUrl=\"{html}\"",
            xml = escape(&site.feed_url(&s.slug, Format::Atom)),
            html = escape(site.home_url()),
        );
        if !s.description.trim().is_empty() {
            let _ = write!(out, " description=\"{}\"", escape(&s.description));
        }
        out.push_str("/>\n");
    }
    out.push_str("</body>\n</opml>\n");
    out.into_bytes()
}
