//! What feed items and channels carry (SPEC §4): the channel link is the organisation's site,
//! the lead image opens every item's content as a `<figure>` with its caption, and summaries
//! derived from marked-up text gain no spaces.

use crate::common;

use std::time::Duration;

use common::feeds::{eventually, feed_contains, get};
use roxmltree::Document;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);
const HOME: &str = "https://www.qhgh.example.org/";
const LEAD: &str = "<figure><img src=\"https://www.example.org/images/2025/0221/compute-room.jpg\" \
                    alt=\"中国移动算力机房。记者 张鹏 摄\"><br><figcaption>中国移动算力机房。记者 张鹏 摄\
                    </figcaption></figure>";

/// Generates a `sqlite` and a `postgres` test for each body, on an app whose `site.home_url`
/// is [`HOME`].
macro_rules! on_both_backends_at_home {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = common::spawn_app_with(common::Backend::Sqlite, at_home).await.unwrap();
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some($app) = common::spawn_app_with(common::Backend::Postgres, at_home).await else {
                        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
                        return;
                    };
                    $body
                }
            }
        )*
    };
}

fn at_home(c: &mut tidings::config::Config) {
    c.site.home_url = Some(HOME.into());
}

async fn text(app: &common::TestApp, path: &str) -> String {
    get(app, path, &[]).await.text().await.unwrap()
}

async fn json(app: &common::TestApp, path: &str) -> Value {
    get(app, path, &[]).await.json().await.unwrap()
}

/// Text of the first `name` child of `node` (any namespace).
fn child<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|n| n.tag_name().name() == name)
        .and_then(|n| n.text())
}

async fn with_fixture(app: &common::TestApp) {
    let put = app
        .put_article("news/qinghai-green-compute", &common::fixture_article())
        .await;
    assert!(put.status().is_success());
    assert!(
        eventually(WAIT, || feed_contains(
            app,
            "/feeds/all.json",
            "qinghai-green-compute"
        ))
        .await
    );
}

on_both_backends_at_home! {
    async fn every_channel_links_to_the_organisations_site(app) {
        with_fixture(&app).await;
        for slug in ["all", "news", "notices"] {
            let rss = text(&app, &format!("/feeds/{slug}.rss")).await;
            let doc = Document::parse(&rss).unwrap();
            let channel = doc.root_element().first_element_child().unwrap();
            assert_eq!(child(channel, "link"), Some(HOME), "{slug}.rss");

            let atom = text(&app, &format!("/feeds/{slug}.atom")).await;
            let doc = Document::parse(&atom).unwrap();
            let alternate: Vec<&str> = doc.root_element().children()
                .filter(|n| n.tag_name().name() == "link" && n.attribute("rel") == Some("alternate"))
                .map(|n| n.attribute("href").unwrap())
                .collect();
            assert_eq!(alternate, [HOME], "{slug}.atom");

            assert_eq!(json(&app, &format!("/feeds/{slug}.json")).await["home_page_url"], HOME, "{slug}.json");
        }
        let opml = text(&app, "/feeds.opml").await;
        let doc = Document::parse(&opml).unwrap();
        assert!(doc.descendants().filter_map(|n| n.attribute("htmlUrl")).all(|h| h == HOME));
        // Items still link to their own pages, feeds to themselves on base_url.
        let rss = text(&app, "/feeds/news.rss").await;
        assert!(rss.contains("<link>https://www.example.org/news/2025/0221/green-compute.html</link>"));
        assert!(rss.contains("href=\"http://feeds.example.test/feeds/news.rss\""));
    }

    async fn the_lead_image_and_its_caption_open_the_content_in_every_format(app) {
        with_fixture(&app).await;
        let rss = text(&app, "/feeds/news.rss").await;
        let doc = Document::parse(&rss).unwrap();
        let item = doc.descendants().find(|n| n.tag_name().name() == "item").unwrap();
        assert!(child(item, "encoded").unwrap().starts_with(LEAD), "content:encoded");
        let description = child(item, "description").unwrap();
        assert!(description.starts_with(LEAD), "{description}");
        assert!(description.ends_with('…'), "the summary follows the figure: {description}");
        // Enclosure and media:content stay for the readers that use them.
        let enclosure = item.children().find(|n| n.tag_name().name() == "enclosure").unwrap();
        assert_eq!(enclosure.attribute("url"), Some("https://www.example.org/images/2025/0221/compute-room.jpg"));

        let atom = text(&app, "/feeds/news.atom").await;
        let doc = Document::parse(&atom).unwrap();
        let entry = doc.descendants().find(|n| n.tag_name().name() == "entry").unwrap();
        assert!(child(entry, "content").unwrap().starts_with(LEAD));
        assert!(!child(entry, "summary").unwrap().contains('<'), "the Atom summary stays plain text");

        let feed = json(&app, "/feeds/news.json").await;
        let html = feed["items"][0]["content_html"].as_str().unwrap();
        assert!(html.starts_with(LEAD), "{html}");
        assert!(html[LEAD.len()..].starts_with("<p>2月20日"), "then the article: {html}");
        assert_eq!(html.matches("<img").count(), 1);
    }

    async fn a_hostile_caption_is_escaped_in_the_figure(app) {
        let caption = "说明 <a href=\"javascript:x\"> & \"b\" ]]> <script>";
        let mut body = common::article("news", "图片说明");
        body["image"] = json!({"url": "https://img.example.org/图片/照片 1.JPG?a=1&b=2", "caption": caption});
        assert!(app.put_article("caption", &body).await.status().is_success());
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/news.json", "图片说明")).await);

        let feed = json(&app, "/feeds/news.json").await;
        let html = scraper::Html::parse_fragment(feed["items"][0]["content_html"].as_str().unwrap());
        let sel = |s: &str| scraper::Selector::parse(s).unwrap();
        let figure = html.select(&sel("figure")).next().expect("figure");
        assert_eq!(figure.select(&sel("figcaption")).next().unwrap().text().collect::<String>(), caption);
        let img = figure.select(&sel("img")).next().unwrap();
        assert_eq!(img.attr("src"), Some("https://img.example.org/%E5%9B%BE%E7%89%87/%E7%85%A7%E7%89%87%201.JPG?a=1&b=2"));
        assert_eq!(img.attr("alt"), Some(caption));
        assert!(html.select(&sel("script, a")).next().is_none(), "markup in the caption stays text");

        let rss = text(&app, "/feeds/news.rss").await;
        common::feed_checks::check_rss(&rss, "http://feeds.example.test/feeds/news.rss", 1, app.clock.now());
        let atom = text(&app, "/feeds/news.atom").await;
        common::feed_checks::check_atom(&atom, "http://feeds.example.test/feeds/news.atom", 1, app.clock.now());
        for doc in [rss, atom] {
            let fp = common::feeds::feedparser(doc.as_bytes());
            assert_eq!(fp["bozo"], 0, "{}", fp["exception"]);
        }
    }

    async fn a_lead_image_the_content_already_shows_is_not_shown_twice(app) {
        let mut body = common::article("news", "正文已有图片");
        body["content_html"] = "<p><img src=\"https://img.example.org/lead.jpg\" alt=\"\"></p><p>正文。</p>".into();
        body["image"] = json!({"url": "https://img.example.org/lead.jpg", "caption": "说明"});
        assert!(app.put_article("shown", &body).await.status().is_success());
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/news.json", "正文已有图片")).await);

        let feed = json(&app, "/feeds/news.json").await;
        let html = feed["items"][0]["content_html"].as_str().unwrap();
        assert_eq!(html.matches("lead.jpg").count(), 1, "{html}");
        assert!(!html.contains("<figure>"), "{html}");
    }

    async fn a_derived_summary_keeps_marked_up_dates_and_words_whole(app) {
        let mut body = common::article("notices", "关于召开代表大会的通知");
        body["content_html"] = format!(
            "<p>青海省总工会第十五次代表大会定于<b>2027年5月</b>在<a href=\"https://www.example.org/\">西宁</a>召开，\
             <em>Qing</em>hai <strong>Federation</strong> of Trade Unions.</p><p>{}</p>",
            "请各单位按时报送代表名单。".repeat(12)
        ).into();
        assert!(app.put_article("notice", &body).await.status().is_success());
        let want = "青海省总工会第十五次代表大会定于2027年5月在西宁召开，Qinghai Federation of Trade Unions. 请各单位";

        let stored: Value = app.get_article("notice").await.json().await.unwrap();
        let summary = stored["summary"].as_str().unwrap();
        assert!(summary.starts_with(want), "{summary}");
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/notices.json", "关于召开代表大会的通知")).await);
        let feed = json(&app, "/feeds/notices.json").await;
        assert_eq!(feed["items"][0]["summary"], summary);
        let atom = text(&app, "/feeds/notices.atom").await;
        assert!(atom.contains(want), "{atom}");
    }
}
