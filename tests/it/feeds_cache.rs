//! What the feed cache shows and when: scheduled publication by itself, retraction, stable ids,
//! monotonic Last-Modified, size and order, section edits, ETags independent of render time.

use crate::common;

use std::time::Duration;

use chrono::Duration as Span;
use common::feeds::{eventually, feed_contains, get};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

/// The cached document at `path`, read from memory: no HTTP request is made.
fn cached(app: &common::TestApp, path: &str) -> String {
    let doc = app.state.feeds.get(path).expect("cached document");
    String::from_utf8(doc.body(tidings::feeds::Encoding::Identity).to_vec()).unwrap()
}

fn renders(app: &common::TestApp) -> u64 {
    app.state
        .metrics
        .feed_renders
        .load(std::sync::atomic::Ordering::Relaxed)
}

async fn json_ids(app: &common::TestApp, path: &str) -> Vec<String> {
    let v: Value = get(app, path, &[]).await.json().await.unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends! {
    async fn a_scheduled_article_appears_at_its_instant_without_any_request(app) {
        let mut body = common::article("notices", "明日发布的通知");
        body["published_at"] = (app.clock.now() + Span::hours(2)).to_rfc3339().into();
        let before = renders(&app);
        assert_eq!(app.put_article("later", &body).await.status(), StatusCode::CREATED);
        assert!(eventually(WAIT, || async { renders(&app) > before }).await, "the put caused no rebuild");
        assert!(!cached(&app, "/feeds/notices.rss").contains("明日发布的通知"));
        assert!(!cached(&app, "/feeds/all.atom").contains("明日发布的通知"));

        app.clock.advance(Span::hours(2));

        // Only the cache in memory is watched: nothing but the clock makes it change.
        let shown = eventually(WAIT, || async {
            ["/feeds/notices.rss", "/feeds/notices.atom", "/feeds/notices.json", "/feeds/all.rss"]
                .iter()
                .all(|p| cached(&app, p).contains("明日发布的通知"))
        })
        .await;
        assert!(shown, "the scheduled article never appeared");
    }

    async fn a_retracted_article_disappears_from_its_feeds(app) {
        app.put_article("gone", &common::article("news", "即将撤回")).await;
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/news.atom", "即将撤回")).await);
        let del = app.client.delete(app.url("/api/v1/articles/gone")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(del.status(), StatusCode::NO_CONTENT);
        let gone = eventually(WAIT, || async {
            !feed_contains(&app, "/feeds/news.atom", "即将撤回").await && !feed_contains(&app, "/feeds/all.json", "即将撤回").await
        })
        .await;
        assert!(gone);
    }

    async fn an_article_keeps_its_id_when_its_url_title_and_section_change(app) {
        app.put_article("moving", &common::article("news", "原标题")).await;
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/news.json", "原标题")).await);
        let id = json_ids(&app, "/feeds/news.json").await.remove(0);
        assert_eq!(id, "tag:feeds.example.test,2026-03-01:article/moving");

        let mut moved = common::article("notices", "新标题");
        moved["url"] = "https://www.example.org/notices/moved.html".into();
        app.put_article("moving", &moved).await;
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/notices.json", "新标题")).await);
        assert!(eventually(WAIT, || async { json_ids(&app, "/feeds/news.json").await.is_empty() }).await);
        assert_eq!(json_ids(&app, "/feeds/notices.json").await, std::slice::from_ref(&id));
        assert_eq!(json_ids(&app, "/feeds/all.json").await, [id]);
    }

    async fn last_modified_moves_forward_when_an_article_leaves_a_section(app) {
        app.put_article("a", &common::article("news", "要走的文章")).await;
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/news.rss", "要走的文章")).await);
        let first = get(&app, "/feeds/news.rss", &[]).await;
        let lm = first.headers()[header::LAST_MODIFIED].to_str().unwrap().to_owned();

        app.clock.advance(Span::hours(1));
        app.put_article("a", &common::article("notices", "要走的文章")).await;
        assert!(eventually(WAIT, || async { !feed_contains(&app, "/feeds/news.rss", "要走的文章").await }).await);

        let after = get(&app, "/feeds/news.rss", &[]).await;
        let lm2 = after.headers()[header::LAST_MODIFIED].to_str().unwrap();
        assert!(httpdate::parse_http_date(lm2).unwrap() > httpdate::parse_http_date(&lm).unwrap(), "{lm} then {lm2}");
        // A reader that only sends If-Modified-Since still sees the change.
        assert_eq!(get(&app, "/feeds/news.rss", &[("if-modified-since", &lm)]).await.status(), StatusCode::OK);
    }

    async fn the_etag_depends_on_content_not_on_when_it_was_rendered(app) {
        app.put_article("a", &common::article("news", "内容不变")).await;
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/news.atom", "内容不变")).await);
        let etag = get(&app, "/feeds/news.atom", &[]).await.headers()[header::ETAG].clone();
        let before = renders(&app);

        app.clock.advance(Span::days(3));
        app.state.events.publish(tidings::events::Change::All);

        assert!(eventually(WAIT, || async { renders(&app) > before }).await);
        assert_eq!(get(&app, "/feeds/news.atom", &[]).await.headers()[header::ETAG], etag);
    }

    async fn a_section_edited_through_the_admin_api_shows_in_its_feeds_and_pages(app) {
        let put = |slug: &'static str, title: &'static str| {
            app.client.put(app.url(&format!("/api/v1/sections/{slug}"))).bearer_auth(common::ADMIN_TOKEN).json(&json!({"title": title, "description": "说明"})).send()
        };
        assert_eq!(put("news", "要闻速递").await.unwrap().status(), StatusCode::OK);
        assert_eq!(put("culture", "职工文化").await.unwrap().status(), StatusCode::CREATED);
        assert!(eventually(WAIT, || feed_contains(&app, "/feeds/news.rss", "青海省总工会 - 要闻速递")).await);
        assert!(eventually(WAIT, || async { get(&app, "/feeds/culture.atom", &[]).await.status() == StatusCode::OK }).await);
        assert!(eventually(WAIT, || feed_contains(&app, "/", "职工文化")).await);
        assert!(feed_contains(&app, "/feeds.opml", "http://feeds.example.test/feeds/culture.atom").await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_hold_the_newest_articles_first_up_to_feeds_items() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| c.feeds.items = 3)
        .await
        .unwrap();
    for (i, day) in [5, 1, 4, 2, 3].into_iter().enumerate() {
        let mut body = common::article("news", &format!("第{i}篇"));
        body["published_at"] = format!("2025-03-0{day}T08:00:00+08:00").into();
        app.put_article(&format!("p{day}"), &body).await;
    }
    let want: Vec<String> = [5, 4, 3]
        .iter()
        .map(|d| format!("tag:feeds.example.test,2026-03-01:article/p{d}"))
        .collect();
    assert!(
        eventually(WAIT, || async {
            json_ids(&app, "/feeds/all.json").await == want
        })
        .await
    );
    assert_eq!(json_ids(&app, "/feeds/news.json").await, want);
    let atom = get(&app, "/feeds/news.atom", &[])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(atom.matches("<entry>").count(), 3);
}
