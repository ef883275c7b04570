//! The front door `/` (SPEC §4, issue 14): each section with its latest five visible
//! articles and its feeds, the subscribe form, in the visitor's language with a switch that
//! works both ways, names and branding as stored, served from memory with validators.

use crate::common;

use std::{collections::BTreeMap, time::Duration};

use chrono::Duration as Span;
use common::feeds::{eventually, feed_contains, get};
use reqwest::{StatusCode, header};
use scraper::{Html, Selector};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn texts(page: &Html, css: &str) -> Vec<String> {
    page.select(&sel(css))
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

fn attr(page: &Html, css: &str, name: &str) -> Option<String> {
    page.select(&sel(css))
        .next()
        .and_then(|e| e.attr(name))
        .map(str::to_owned)
}

/// What a front-door answer says, read once.
struct Answer {
    status: StatusCode,
    headers: header::HeaderMap,
}

/// The front door as a client sending `accept_language` (if any) sees it.
async fn front(app: &common::TestApp, path: &str, accept_language: Option<&str>) -> (Answer, Html) {
    let headers: Vec<(&str, &str)> = accept_language
        .map(|l| ("accept-language", l))
        .into_iter()
        .collect();
    let resp = get(app, path, &headers).await;
    let answer = Answer {
        status: resp.status(),
        headers: resp.headers().clone(),
    };
    (answer, Html::parse_document(&resp.text().await.unwrap()))
}

async fn put_news(app: &common::TestApp, id: &str, title: &str, published: &str) {
    let mut body = common::article("news", title);
    body["url"] = format!("https://www.example.org/news/{id}.html").into();
    body["published_at"] = published.into();
    assert!(app.put_article(id, &body).await.status().is_success());
}

on_both_backends! {
    async fn the_front_door_lists_each_sections_latest_five_visible_articles_newest_first(app) {
        for day in 1..=7 {
            // 17:30 UTC is 01:30 the next day in Asia/Shanghai, the site's zone.
            put_news(&app, &format!("n{day}"), &format!("要闻{day}"), &format!("2026-02-2{day}T17:30:00Z")).await;
        }
        put_news(&app, "later", "明日要闻", &(app.clock.now() + Span::hours(2)).to_rfc3339()).await;
        put_news(&app, "gone", "撤回的要闻", "2026-02-28T12:00:00Z").await;
        let del = app.client.delete(app.url("/api/v1/articles/gone")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(del.status(), StatusCode::NO_CONTENT);
        assert!(eventually(WAIT, || async { feed_contains(&app, "/", "要闻7").await && !feed_contains(&app, "/", "撤回的要闻").await }).await);

        let (resp, page) = front(&app, "/", None).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(texts(&page, "section#news ol.articles li a"), ["要闻7", "要闻6", "要闻5", "要闻4", "要闻3"]);
        let links: Vec<&str> = page.select(&sel("section#news ol.articles li a")).map(|a| a.attr("href").unwrap()).collect();
        assert_eq!(links[0], "https://www.example.org/news/n7.html");
        assert_eq!(texts(&page, "section#news ol.articles li time")[0], "2026-02-28");
        assert_eq!(attr(&page, "section#news time", "datetime").unwrap(), "2026-02-28T01:30:00+08:00");
        let html = page.html();
        assert!(!html.contains("明日要闻"), "a scheduled article is not shown before its time");
        assert!(!html.contains("撤回的要闻"), "a retracted article is never shown");
        assert_eq!(texts(&page, "section#notices .empty"), ["暂无文章。"]);
        // Whatever a title holds is text.
        let hostile = common::article("about", "<b>粗体</b> & \"引号\" <script>x()</script>");
        assert!(app.put_article("hostile", &hostile).await.status().is_success());
        assert!(eventually(WAIT, || feed_contains(&app, "/", "粗体")).await);
        let (_, page) = front(&app, "/", None).await;
        assert_eq!(texts(&page, "section#about li a"), ["<b>粗体</b> & \"引号\" <script>x()</script>"]);
        assert!(!page.html().contains("<script>"));
        for slug in ["news", "notices", "grassroots", "about"] {
            let feeds: Vec<&str> = page.select(&sel(&format!("section#{slug} .feeds a"))).map(|a| a.attr("href").unwrap()).collect();
            assert_eq!(feeds, [
                format!("http://feeds.example.test/feeds/{slug}.rss"),
                format!("http://feeds.example.test/feeds/{slug}.atom"),
                format!("http://feeds.example.test/feeds/{slug}.json"),
            ]);
        }

        // Its time comes: the page shows it by itself, on top, and the oldest of five goes.
        app.clock.advance(Span::hours(2));
        assert!(eventually(WAIT, || feed_contains(&app, "/", "明日要闻")).await);
        let (_, page) = front(&app, "/", None).await;
        assert_eq!(texts(&page, "section#news ol.articles li a"), ["明日要闻", "要闻7", "要闻6", "要闻5", "要闻4"]);
    }

    async fn the_front_door_speaks_the_visitors_language_and_its_switch_works_both_ways(app) {
        let (zh, zh_page) = front(&app, "/", None).await;
        assert_eq!(attr(&zh_page, "html", "lang").as_deref(), Some("zh-CN"));
        assert_eq!(zh.headers[header::CONTENT_LANGUAGE], "zh-CN");
        assert_eq!(zh.headers[header::VARY], "Accept-Encoding, Accept-Language");

        let (en, en_page) = front(&app, "/", Some("en-GB,en;q=0.9,zh;q=0.5")).await;
        assert_eq!(en.status, StatusCode::OK);
        assert_eq!(attr(&en_page, "html", "lang").as_deref(), Some("en"));
        assert_eq!(en.headers[header::CONTENT_LANGUAGE], "en");
        assert_eq!(texts(&en_page, "#subscribe-title"), ["Email digest"]);
        assert_eq!(texts(&en_page, "#news-title"), ["Union news"], "the strings file names it in English");
        assert!(en_page.select(&sel("#news .desc")).next().is_none(), "no Chinese description on the English page");
        assert_eq!(texts(&zh_page, "#news .desc"), ["全省工会工作要闻"]);

        // The switch of the English page leads to the Chinese one even for an English browser,
        // and back.
        let to_zh = attr(&en_page, "header a[hreflang]", "href").unwrap();
        assert_eq!(to_zh, "/?locale=zh-CN");
        let (r, page) = front(&app, &to_zh, Some("en")).await;
        assert_eq!((r.status, attr(&page, "html", "lang").as_deref()), (StatusCode::OK, Some("zh-CN")));
        let to_en = attr(&page, "header a[hreflang]", "href").unwrap();
        let (r, page) = front(&app, &to_en, Some("zh-CN")).await;
        assert_eq!((r.status, attr(&page, "html", "lang").as_deref()), (StatusCode::OK, Some("en")));

        // One validator per language: a cache holding the Chinese page cannot pass it off as
        // the English one.
        let zh_tag = zh.headers[header::ETAG].to_str().unwrap().to_owned();
        let en_tag = en.headers[header::ETAG].to_str().unwrap().to_owned();
        assert_ne!(zh_tag, en_tag);
        assert_eq!(get(&app, "/", &[("accept-language", "en"), ("if-none-match", &en_tag)]).await.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(get(&app, "/", &[("accept-language", "en"), ("if-none-match", &zh_tag)]).await.status(), StatusCode::OK);

        let bad = get(&app, "/?locale=fr", &[("accept-language", "en")]).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = bad.text().await.unwrap();
        assert!(body.contains("Language fr is not supported"), "{body}");
    }

    async fn the_front_door_names_sections_and_schedules_by_their_stored_texts(app) {
        let put = app.client.put(app.url("/api/v1/sections/news")).bearer_auth(common::ADMIN_TOKEN)
            .json(&json!({"titles": {"zh-CN": "要闻速递", "en": "Federation news"}, "descriptions": {"zh-CN": "全省要闻", "en": "What the federation did"}}))
            .send().await.unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        let mut daily: serde_json::Value = app.client.get(app.url("/api/v1/schedules/daily")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        daily["name"] = "早间快报".into();
        let fields: serde_json::Map<String, serde_json::Value> = ["name", "cron", "timezone", "enabled", "send_when_empty", "max_articles"]
            .iter().map(|k| (k.to_string(), daily[*k].clone())).collect();
        let renamed = app.client.put(app.url("/api/v1/schedules/daily")).bearer_auth(common::ADMIN_TOKEN).json(&fields).send().await.unwrap();
        assert_eq!(renamed.status(), StatusCode::OK);
        app.state.store.put_schedule_texts("daily", &BTreeMap::from([("en".to_owned(), "Morning briefing".to_owned())])).await.unwrap();
        assert!(eventually(WAIT, || feed_contains(&app, "/", "要闻速递")).await);
        // Schedules tell the feeds nothing: the page reads them again once its copy is old.
        app.clock.advance(Span::seconds(6));

        let (_, zh) = front(&app, "/", None).await;
        assert_eq!(texts(&zh, "#news-title"), ["要闻速递"]);
        assert_eq!(texts(&zh, "#news .desc"), ["全省要闻"]);
        assert!(texts(&zh, "#subscribe label.choice .name").contains(&"早间快报".to_owned()), "{:?}", texts(&zh, "#subscribe label.choice"));
        // Each schedule says when its mail comes, in the page's language.
        assert!(texts(&zh, "#subscribe label.choice .when").iter().any(|w| w.starts_with("每天")), "{:?}", texts(&zh, "#subscribe label.choice .when"));
        let (_, en) = front(&app, "/", Some("en")).await;
        assert_eq!(texts(&en, "#news-title"), ["Federation news"]);
        assert_eq!(texts(&en, "#news .desc"), ["What the federation did"]);
        let schedules = texts(&en, "#subscribe label.choice .name");
        assert!(schedules.contains(&"Morning briefing".to_owned()), "{schedules:?}");
        assert!(texts(&en, "#subscribe label.choice .when").iter().any(|w| w.starts_with("every day at")), "{:?}", texts(&en, "#subscribe label.choice .when"));
        let choices = texts(&en, "#subscribe label.choice");
        assert!(choices.contains(&"Federation news".to_owned()), "{choices:?}");
        let alternates: Vec<String> = en.select(&sel("head link[rel=alternate]")).map(|l| l.attr("title").unwrap().to_owned()).collect();
        assert!(alternates.contains(&"青海省总工会 - Federation news (Atom)".to_owned()), "{alternates:?}");
    }

    async fn the_front_door_wears_the_branding_of_the_console_settings(app) {
        let (_, before) = front(&app, "/", Some("en")).await;
        assert_eq!(texts(&before, "h1"), ["青海省总工会"]);
        app.state.branding.replace(BTreeMap::from([
            ("title.en".to_owned(), "Qinghai Federation of Trade Unions".to_owned()),
            ("logo_url".to_owned(), "https://www.example.org/logo.png".to_owned()),
            ("accent_colour".to_owned(), "#0d47a1".to_owned()),
        ]));
        let (resp, after) = front(&app, "/", Some("en")).await;
        assert_eq!(texts(&after, "h1"), ["Qinghai Federation of Trade Unions"]);
        assert_eq!(attr(&after, "header img", "src").as_deref(), Some("https://www.example.org/logo.png"));
        assert!(after.html().contains("background: #0d47a1"));
        assert!(resp.headers["content-security-policy"].to_str().unwrap().contains("img-src https:"), "the logo may load");
        let (_, zh) = front(&app, "/", None).await;
        assert_eq!(texts(&zh, "h1"), ["青海省总工会"], "the title was set for English only");
    }
}

with_smtp_on_both_backends! {
    async fn the_subscribe_form_on_the_front_door_mails_a_confirmation_in_the_page_language(app, smtp) {
        let (_, page) = front(&app, "/", Some("en")).await;
        let form = page.select(&sel("form[method=post]")).next().expect("the subscribe form");
        assert_eq!(form.attr("action"), Some("subscribe"), "relative: works under a base_url path too");
        assert_eq!(attr(&page, "input[name=schedule][checked]", "value").as_deref(), Some("daily"));
        assert_eq!(attr(&page, "select[name=locale] option[selected]", "value").as_deref(), Some("en"));
        let sent = common::subscriptions::subscribe_form(&app, &[("email", "li.lei@example.org"), ("sections", "news"), ("schedule", "weekly"), ("locale", "en")]).await;
        assert_eq!(sent.status(), StatusCode::OK);
        let mail = smtp.wait_for(1).await.pop().unwrap();
        assert_eq!(mail.header("Subject").unwrap(), "Please confirm your 青海省总工会 digest subscription");
        let s = app.state.store.subscriber_by_email("li.lei@example.org").await.unwrap().unwrap();
        assert_eq!((s.sections, s.schedule.as_str()), (vec!["news".to_owned()], "weekly"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_door_links_the_organisations_own_site_when_it_is_another() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.site.home_url = Some("https://www.qhghw.example/".into());
    })
    .await
    .unwrap();
    let (_, page) = front(&app, "/", Some("zh-CN")).await;
    let links: Vec<(String, String)> = page
        .select(&sel(".intro a"))
        .map(|a| {
            (
                a.attr("href").unwrap().to_owned(),
                a.text().collect::<String>(),
            )
        })
        .collect();
    assert!(
        links.contains(&(
            "https://www.qhghw.example/".to_owned(),
            "访问官网 ↗".to_owned()
        )),
        "{links:?}"
    );
    assert_eq!(
        attr(&page, "header a.brand", "href").as_deref(),
        Some("/"),
        "the header leads home"
    );

    let plain = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    let (_, page) = front(&plain, "/", None).await;
    assert!(
        !page.html().contains("访问官网"),
        "no link to itself when home_url is unset"
    );
}
