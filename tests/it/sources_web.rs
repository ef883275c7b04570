//! Web sources against fixture sites served in the test process: UTF-8 and GBK pages,
//! conditional GET, changed articles, one request per host at a time.

use crate::common;

use common::sources::{app_with, articles, fetcher, source};

use std::time::Duration;

use common::site::{
    Site,
    fixtures::{self, serve_gbk_site, serve_utf8_site, web_source},
};
use tidings::articles::sources::poll_once;

on_both!(
    utf8_site_articles_arrive_with_absolute_links_and_dates_read_in_the_source_zone,
    gbk_pages_are_decoded_by_their_declared_charset,
    an_unchanged_list_page_costs_one_conditional_request,
    an_article_seen_again_with_changed_content_is_updated_not_duplicated,
    a_changed_list_page_rechecks_only_the_newest_known_articles,
);

async fn utf8_site_articles_arrive_with_absolute_links_and_dates_read_in_the_source_zone(
    backend: common::Backend,
) {
    let site = Site::start().await;
    let listed = serve_utf8_site(&site);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/news/index.html"))],
    )
    .await;

    let report = poll_once(
        &app.state,
        &fetcher(Duration::from_secs(2)),
        &source(&app, "site"),
    )
    .await;

    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!((report.items_found, report.created), (2, 2));
    let stored = articles(&app, "news").await;
    assert_eq!(stored.len(), 2);
    for (path, fixture) in &listed {
        let a = stored
            .iter()
            .find(|a| a.title == fixture.title)
            .expect("fixture article stored");
        assert_eq!(a.url, site.url(path));
        let published: chrono::DateTime<chrono::Utc> = fixture.published_at.parse().unwrap();
        assert_eq!(
            a.published_at, published,
            "{} read in Asia/Shanghai",
            fixture.slug
        );
        assert_eq!(a.author, fixture.author);
        assert_eq!(a.source, "site");
        let img = format!(
            "src=\"{}\"",
            site.url(&format!("/news/images/{}.jpg", fixture.slug))
        );
        assert!(a.content_html.contains(&img), "{}", a.content_html);
        assert!(
            a.content_html
                .contains(&format!("href=\"{}\"", site.url("/news/index.html")))
        );
        assert!(!a.content_html.contains("counter()"));
        let first_paragraph = fixture
            .body_html
            .split("</p>")
            .next()
            .unwrap()
            .trim_start_matches("<p>");
        assert!(a.content_html.contains(first_paragraph));
    }
    let agents: Vec<String> = site
        .hits("/news/index.html")
        .into_iter()
        .filter_map(|h| h.user_agent)
        .collect();
    assert!(
        agents
            .iter()
            .all(|ua| ua.starts_with("Mozilla/5.0 (compatible; tidings/")),
        "{agents:?}"
    );
}

async fn gbk_pages_are_decoded_by_their_declared_charset(backend: common::Backend) {
    let site = Site::start().await;
    let listed = serve_gbk_site(&site);
    let app = app_with(
        backend,
        vec![web_source(
            "gbk",
            "grassroots",
            &site.url("/gbk/index.html"),
        )],
    )
    .await;

    let report = poll_once(
        &app.state,
        &fetcher(Duration::from_secs(2)),
        &source(&app, "gbk"),
    )
    .await;

    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let stored = articles(&app, "grassroots").await;
    let mut titles: Vec<&str> = stored.iter().map(|a| a.title.as_str()).collect();
    let mut expected: Vec<&str> = listed.iter().map(|(_, f)| f.title.as_str()).collect();
    titles.sort();
    expected.sort();
    assert_eq!(titles, expected);
    let green = stored
        .iter()
        .find(|a| a.author.as_deref() == Some("张鹏"))
        .expect("author decoded");
    assert!(
        green.content_html.contains("青藏高原牧场的风"),
        "{}",
        green.content_html
    );
    assert!(
        !green.content_html.contains('\u{FFFD}'),
        "undecoded bytes in {}",
        green.content_html
    );
}

async fn an_unchanged_list_page_costs_one_conditional_request(backend: common::Backend) {
    let site = Site::start().await;
    serve_utf8_site(&site);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/news/index.html"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "site"));
    poll_once(&app.state, &fetcher, &src).await;
    let before = site.hit_count();

    let report = poll_once(&app.state, &fetcher, &src).await;

    assert!(report.not_modified);
    assert_eq!(
        site.hit_count(),
        before + 1,
        "only the list page is asked again"
    );
    let last = site.hits("/news/index.html").pop().unwrap();
    assert_eq!(last.status, 304);
    assert!(last.if_none_match.is_some());
    assert_eq!(articles(&app, "news").await.len(), 2);
}

async fn an_article_seen_again_with_changed_content_is_updated_not_duplicated(
    backend: common::Backend,
) {
    let site = Site::start().await;
    let listed = serve_utf8_site(&site);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/news/index.html"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "site"));
    poll_once(&app.state, &fetcher, &src).await;
    let before = articles(&app, "news").await;
    // The site corrects one article and adds a line to its list page.
    let (path, mut changed) = listed[0].clone();
    changed.title = format!("{}（更正）", changed.title);
    site.html(
        &path,
        &fixtures::article_page(&changed, fixtures::printed_date(&changed), ""),
    );
    let items: Vec<(String, String)> = listed
        .iter()
        .map(|(p, a)| (p.trim_start_matches("/news/").to_owned(), a.title.clone()))
        .collect();
    site.html(
        "/news/index.html",
        &fixtures::list_page(&items, "<meta name=\"generator\" content=\"CMS 2\">"),
    );
    let mut events = app.state.events.subscribe();

    let report = poll_once(&app.state, &fetcher, &src).await;

    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (0, 1, 1)
    );
    let after = articles(&app, "news").await;
    assert_eq!(after.len(), 2, "no duplicate");
    let updated = after
        .iter()
        .find(|a| a.title == changed.title)
        .expect("corrected title");
    assert!(
        before.iter().any(|a| a.id == updated.id),
        "same article id kept"
    );
    assert_eq!(
        events.try_recv().unwrap(),
        tidings::events::Change::Sections(vec!["news".into()])
    );
    let article_hits = site.hits(&listed[1].0);
    assert_eq!(
        article_hits.last().unwrap().status,
        304,
        "the unchanged article page answered 304"
    );
}

async fn a_changed_list_page_rechecks_only_the_newest_known_articles(backend: common::Backend) {
    let site = Site::start().await;
    let fixture = fixtures::fixture_articles().pop().unwrap();
    let publish = |n: usize| {
        let mut a = fixture.clone();
        a.title = format!("第{n}期");
        site.html(
            &format!("/list/{n}.html"),
            &fixtures::article_page(&a, "2025-02-21", ""),
        );
    };
    let list = |newest: usize| {
        let items: Vec<(String, String)> = (1..=newest)
            .rev()
            .map(|n| (format!("{n}.html"), format!("第{n}期")))
            .collect();
        site.html("/list/index.html", &fixtures::list_page(&items, ""));
    };
    (1..=25).for_each(publish);
    list(25);
    let app = app_with(
        backend,
        vec![web_source("site", "news", &site.url("/list/index.html"))],
    )
    .await;
    let (fetcher, src) = (fetcher(Duration::from_secs(2)), source(&app, "site"));
    assert_eq!(poll_once(&app.state, &fetcher, &src).await.created, 25);
    publish(26);
    list(26);

    let report = poll_once(&app.state, &fetcher, &src).await;

    assert_eq!((report.created, report.unchanged), (1, 25));
    assert_eq!(
        site.hits("/list/25.html").len(),
        2,
        "a recent article is asked again"
    );
    assert_eq!(site.hits("/list/25.html")[1].status, 304);
    assert_eq!(site.hits("/list/1.html").len(), 1, "an old one is not");
}
