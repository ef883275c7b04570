//! `GET /`: the sections, their feeds with autodiscovery `<link>`s, and the subscribe form.

use minijinja::{Environment, context, value::Serde};
use serde::Serialize;

use super::{
    ALL,
    site::{Format, Site},
};
use crate::store::FeedSection;

const TEMPLATE: &str = include_str!("index.html");

#[derive(Serialize)]
struct FeedLink {
    url: String,
    media_type: &'static str,
    label: &'static str,
    title: String,
}

#[derive(Serialize)]
struct SectionView<'a> {
    slug: &'a str,
    title: &'a str,
    description: &'a str,
    feeds: Vec<FeedLink>,
}

/// Page texts in the site's language.
#[derive(Serialize)]
struct Texts {
    intro: &'static str,
    feeds: &'static str,
    opml: &'static str,
    subscribe: &'static str,
    email: &'static str,
    sections: &'static str,
    none_means_all: &'static str,
    submit: &'static str,
    more_options: &'static str,
}

fn texts(language: &str) -> Texts {
    if language.starts_with("zh") {
        Texts {
            intro: "用阅读器订阅各栏目的 RSS、Atom 或 JSON Feed，或留下邮箱定期接收摘要。",
            feeds: "栏目订阅源",
            opml: "全部订阅源（OPML）",
            subscribe: "邮件订阅",
            email: "电子邮箱",
            sections: "栏目",
            none_means_all: "不选即订阅全部栏目。",
            submit: "订阅",
            more_options: "更多选项",
        }
    } else {
        Texts {
            intro: "Follow each section in a feed reader (RSS, Atom or JSON Feed), or get a digest by email.",
            feeds: "Feeds by section",
            opml: "All feeds (OPML)",
            subscribe: "Email digest",
            email: "Email address",
            sections: "Sections",
            none_means_all: "Choose none for every section.",
            submit: "Subscribe",
            more_options: "More options",
        }
    }
}

fn feeds(site: &Site, slug: &str, title: &str) -> Vec<FeedLink> {
    Format::ALL
        .into_iter()
        .map(|format| FeedLink {
            url: site.feed_url(slug, format),
            media_type: format.media_type(),
            label: format.label(),
            title: format!("{} ({})", site.feed_title(title), format.label()),
        })
        .collect()
}

/// The HTML of the index page.
pub fn render(site: &Site, sections: &[FeedSection]) -> Vec<u8> {
    let all_title = site.all_title();
    let mut views = vec![SectionView {
        slug: ALL,
        title: &all_title,
        description: "",
        feeds: feeds(site, ALL, &all_title),
    }];
    views.extend(sections.iter().map(|s| SectionView {
        slug: &s.slug,
        title: &s.title,
        description: &s.description,
        feeds: feeds(site, &s.slug, &s.title),
    }));
    let autodiscovery: Vec<&FeedLink> = views.iter().flat_map(|v| v.feeds.iter()).collect();
    let mut env = Environment::new();
    env.add_template("index.html", TEMPLATE)
        .expect("the index template is valid");
    let html = env
        .get_template("index.html")
        .and_then(|t| {
            t.render(context! {
                lang => &site.language,
                site_title => &site.title,
                t => Serde(texts(&site.language)),
                sections => Serde(&views),
                autodiscovery => Serde(&autodiscovery),
                opml_url => site.url("/feeds.opml"),
            })
        })
        .expect("the index template renders with any text");
    super::doc::clean(&html).into_bytes()
}
