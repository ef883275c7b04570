//! A feed item as a reader that ignores enclosures shows it: the item's HTML from the feed,
//! dropped into a reader-like page and opened in headless Chromium. The lead image must be
//! the first thing, loaded, with its caption under it. Screenshots land in `tests/artifacts/`.

use crate::common;

use std::time::Duration;

use common::feeds::{eventually, feed_contains};
use fantoccini::Locator;
use serde_json::{Value, json};

use crate::subscriptions_browser::{artifacts, start_chromedriver};

const CAPTION: &str = "青海省总工会第十五次代表大会开幕。记者 张鹏 摄";

/// A lead picture drawn in SVG, so that the test needs no image file.
const PICTURE: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="640" viewBox="0 0 1200 640">
<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#3b82c4"/><stop offset="1" stop-color="#bfe0f5"/></linearGradient></defs>
<rect width="1200" height="640" fill="url(#sky)"/>
<circle cx="960" cy="150" r="70" fill="#ffd75e"/>
<path d="M0 470 L220 300 L380 420 L560 240 L760 430 L930 330 L1200 480 L1200 640 L0 640 Z" fill="#5f7f52"/>
<path d="M0 560 L300 470 L620 560 L900 500 L1200 570 L1200 640 L0 640 Z" fill="#8aa86b"/>
<rect x="470" y="380" width="260" height="150" fill="#b3261e"/><rect x="450" y="360" width="300" height="30" fill="#8c1d18"/>
</svg>"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_showing_the_item_html_shows_the_lead_image_with_its_caption_first() {
    let site = common::site::Site::start().await;
    site.page("/images/congress.svg", "image/svg+xml", PICTURE);
    let app = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    let body = json!({
        "section": "news",
        "title": "青海省总工会第十五次代表大会在西宁开幕",
        "url": "https://www.example.org/news/2027/congress.html",
        "content_html": "<p>青海省总工会第十五次代表大会于<b>2027年5月18日</b>在西宁开幕，来自全省各行各业的\
                         代表齐聚一堂。</p><p>大会听取并审议了省总工会第十四届委员会工作报告。</p>",
        "image": {"url": site.url("/images/congress.svg"), "caption": CAPTION},
        "published_at": "2027-05-18T09:00:00+08:00",
    });
    app.clock.set("2027-05-19T00:00:00Z".parse().unwrap());
    assert!(
        app.put_article("news/congress", &body)
            .await
            .status()
            .is_success()
    );
    assert!(
        eventually(Duration::from_secs(5), || feed_contains(
            &app,
            "/feeds/news.json",
            "代表大会"
        ))
        .await
    );
    let feed: Value = common::feeds::get(&app, "/feeds/news.json", &[])
        .await
        .json()
        .await
        .unwrap();
    let item = &feed["items"][0];

    // The article view of a feed reader: the title, then the item's HTML as the feed gave it.
    site.html(
        "/reader.html",
        &format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>阅读器</title>\
             <style>body{{font-family:\"Noto Sans CJK SC\",sans-serif;max-width:44rem;margin:1.5rem auto;\
             padding:0 1rem;line-height:1.7;color:#222}}img{{max-width:100%;height:auto}}\
             figure{{margin:0 0 1rem}}figcaption{{color:#555;font-size:.9rem}}</style></head>\
             <body><header><h1>{title}</h1><p class=\"source\">{feed_title}</p></header>\
             <article class=\"content\">{html}</article></body></html>",
            title = html_escape::encode_text(item["title"].as_str().unwrap()),
            feed_title = html_escape::encode_text(feed["title"].as_str().unwrap()),
            html = item["content_html"].as_str().unwrap(),
        ),
    );

    let (_driver, webdriver) = start_chromedriver().await;
    let (client, _profile) = common::browser::open(&webdriver, "zh-CN").await;
    client.goto(&site.url("/reader.html")).await.unwrap();
    let first = client
        .find(Locator::Css("article.content > :first-child"))
        .await
        .unwrap();
    assert_eq!(first.tag_name().await.unwrap(), "figure");
    let caption = client
        .find(Locator::Css("article.content > figure > figcaption"))
        .await
        .unwrap();
    assert_eq!(caption.text().await.unwrap(), CAPTION);
    let loaded = client
        .execute(
            "const i = document.querySelector('article.content > figure > img');\
             return i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 100;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, Value::Bool(true), "the lead image did not load");
    let text = client
        .find(Locator::Css("article.content > p"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("于2027年5月18日在西宁开幕"), "{text}");

    for (width, height) in [(1280, 1000), (390, 1100)] {
        client.set_window_size(width, height).await.unwrap();
        let png = client.screenshot().await.unwrap();
        std::fs::write(
            artifacts().join(format!("feeds-reader-item-{width}.png")),
            png,
        )
        .unwrap();
    }
    client.close().await.unwrap();
}
