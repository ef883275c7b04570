//! Feed sources: RSS and Atom from a fixture server mapped into a section, conditional GET,
//! ids that survive edits, a GBK feed, an empty feed reported.

use crate::common;

use common::sources::{app_with, articles, fetcher, source};

use std::time::Duration;

use common::site::{
    Site,
    fixtures::{FixtureArticle, feed_source, fixture_articles},
};
use tidings::articles::{Article, sources::poll_once};

on_both!(
    rss_entries_become_articles_and_an_unchanged_feed_costs_one_304,
    an_edited_entry_keeps_its_article_id,
    a_gbk_atom_feed_is_read_by_its_xml_declaration,
    an_empty_feed_is_reported_in_the_health_api,
);

fn rfc2822(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .to_rfc2822()
}

/// RSS 2.0 of the fixture articles; the first keeps a guid, the second only has its link.
fn rss(items: &[FixtureArticle]) -> String {
    let body: String = items
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let guid = if i == 0 {
                format!("<guid isPermaLink=\"false\">fixture-{}</guid>", a.slug)
            } else {
                String::new()
            };
            format!(
                "<item><title>{title}</title><link>/articles/{slug}.html</link>{guid}\
                 <description><![CDATA[{html}]]></description><pubDate>{date}</pubDate>\
                 <category>工会</category></item>",
                title = a.title,
                slug = a.slug,
                html = a.body_html,
                date = rfc2822(&a.published_at),
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>合作单位</title><link>http://partner.test/</link><description>d</description>\
         {body}</channel></rss>"
    )
}

async fn rss_entries_become_articles_and_an_unchanged_feed_costs_one_304(backend: common::Backend) {
    let site = Site::start().await;
    let fixtures = fixture_articles();
    site.page("/rss.xml", "application/rss+xml", rss(&fixtures));
    let app = app_with(
        backend,
        vec![feed_source("partner", "grassroots", &site.url("/rss.xml"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "partner"));

    let first = poll_once(&app.state, &fetcher, &src).await;
    let second = poll_once(&app.state, &fetcher, &src).await;

    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert_eq!((first.items_found, first.created), (2, 2));
    assert!(second.not_modified);
    assert_eq!(site.hits("/rss.xml").last().unwrap().status, 304);
    let stored = articles(&app, "grassroots").await;
    for f in &fixtures {
        let a = stored
            .iter()
            .find(|a| a.title == f.title)
            .expect("entry stored");
        assert_eq!(
            a.url,
            site.url(&format!("/articles/{}.html", f.slug)),
            "relative link made absolute"
        );
        assert_eq!(
            a.published_at,
            f.published_at
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        );
        assert_eq!(a.tags, vec!["工会".to_owned()]);
        assert_eq!(a.source, "partner");
    }
}

async fn an_edited_entry_keeps_its_article_id(backend: common::Backend) {
    let site = Site::start().await;
    let mut fixtures = fixture_articles();
    site.page("/rss.xml", "application/rss+xml", rss(&fixtures));
    let app = app_with(
        backend,
        vec![feed_source("partner", "grassroots", &site.url("/rss.xml"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "partner"));
    poll_once(&app.state, &fetcher, &src).await;
    let before = articles(&app, "grassroots").await;
    // Both entries get new titles: one is keyed by its guid, the other by its link.
    for f in &mut fixtures {
        f.title = format!("{}（修订）", f.title);
    }
    site.page("/rss.xml", "application/rss+xml", rss(&fixtures));

    let report = poll_once(&app.state, &fetcher, &src).await;

    assert_eq!(
        (report.created, report.updated),
        (0, 2),
        "{:?}",
        report.failed
    );
    let after = articles(&app, "grassroots").await;
    let ids = |v: &[Article]| {
        let mut ids: Vec<String> = v.iter().map(|a| a.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&before), ids(&after));
    assert!(after.iter().all(|a| a.title.ends_with("（修订）")));
}

async fn a_gbk_atom_feed_is_read_by_its_xml_declaration(backend: common::Backend) {
    let site = Site::start().await;
    let atom = "<?xml version=\"1.0\" encoding=\"GBK\"?>\
        <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>基层动态</title><id>urn:x</id>\
        <updated>2025-02-21T09:00:00+08:00</updated>\
        <entry><id>urn:entry:1</id><title>职工书屋开放</title><link href=\"http://partner.test/1.html\"/>\
        <updated>2025-02-21T09:00:00+08:00</updated><author><name>李明</name></author>\
        <content type=\"html\">&lt;p&gt;职工书屋正式开放。&lt;/p&gt;</content></entry></feed>";
    site.page(
        "/atom.xml",
        "application/atom+xml",
        encoding_rs::GBK.encode(atom).0.into_owned(),
    );
    let app = app_with(
        backend,
        vec![feed_source(
            "gbk-feed",
            "grassroots",
            &site.url("/atom.xml"),
        )],
    )
    .await;

    let report = poll_once(
        &app.state,
        &fetcher(Duration::from_secs(2)),
        &source(&app, "gbk-feed"),
    )
    .await;

    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let stored = articles(&app, "grassroots").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].title, "职工书屋开放");
    assert_eq!(stored[0].author.as_deref(), Some("李明"));
    assert!(stored[0].content_html.contains("职工书屋正式开放。"));
}

async fn an_empty_feed_is_reported_in_the_health_api(backend: common::Backend) {
    let site = Site::start().await;
    site.page("/rss.xml", "application/rss+xml", rss(&fixture_articles()));
    let app = app_with(
        backend,
        vec![feed_source("partner", "grassroots", &site.url("/rss.xml"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "partner"));
    poll_once(&app.state, &fetcher, &src).await;
    site.page("/rss.xml", "application/rss+xml", rss(&[]));

    let report = poll_once(&app.state, &fetcher, &src).await;

    assert_eq!(report.items_found, 0);
    let body: serde_json::Value = app
        .client
        .get(app.url("/api/v1/sources"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let h = &body["items"][0];
    assert_eq!(h["status"], "error");
    assert!(
        h["last_error"]
            .as_str()
            .unwrap()
            .contains("holds no entries"),
        "{h}"
    );
    assert_eq!(
        app.state.store.count_articles().await.unwrap(),
        2,
        "nothing retracted"
    );
}
