//! `GET /feeds.opml`: every feed, grouped by section, for readers that import subscription lists.

use std::fmt::Write;

use super::{
    ALL,
    site::{Format, Site},
    xml::escape,
};
use crate::store::FeedSection;

/// The OPML 2.0 document listing the `all` feed and every section's feeds in each format.
pub fn render(site: &Site, sections: &[FeedSection]) -> Vec<u8> {
    let mut out = String::with_capacity(1024 + sections.len() * 600);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n<head>\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&site.title));
    out.push_str("</head>\n<body>\n");
    let all = site.all_title();
    let groups = std::iter::once((ALL, all.as_str()))
        .chain(sections.iter().map(|s| (s.slug.as_str(), s.title.as_str())));
    for (slug, title) in groups {
        let title = escape(title);
        let _ = writeln!(out, "<outline text=\"{title}\" title=\"{title}\">");
        for format in Format::ALL {
            let _ = writeln!(
                out,
                "<outline type=\"rss\" version=\"{version}\" text=\"{title} ({label})\" \
                 title=\"{title} ({label})\" xmlUrl=\"{xml}\" htmlUrl=\"{html}\"/>",
                version = match format {
                    Format::Rss => "RSS2",
                    Format::Atom => "Atom",
                    Format::Json => "JSONFeed",
                },
                label = format.label(),
                xml = escape(&site.feed_url(slug, format)),
                html = escape(&site.page_url(slug)),
            );
        }
        out.push_str("</outline>\n");
    }
    out.push_str("</body>\n</opml>\n");
    out.into_bytes()
}
