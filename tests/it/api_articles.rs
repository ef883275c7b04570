//! Publisher API: round trips, idempotent upserts, retraction, listing, scheduled publication.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends! {
    async fn fixture_article_round_trips_with_every_character_intact(app) {
        let body = common::fixture_article();
        let resp = app.put_article("news/qinghai-green-compute", &body).await;
        assert_eq!(resp.status(), StatusCode::CREATED);

        let got: Value = app.get_article("news/qinghai-green-compute").await.json().await.unwrap();
        assert_eq!(got["id"], "news/qinghai-green-compute");
        assert_eq!(got["title"], body["title"]);
        assert_eq!(got["author"], body["author"]);
        assert_eq!(got["url"], body["url"]);
        assert_eq!(got["tags"], body["tags"]);
        assert_eq!(got["image"]["url"], body["image"]["url"]);
        assert_eq!(got["image"]["caption"], body["image"]["caption"]);
        assert_eq!(got["status"], "published");
        let published: chrono::DateTime<chrono::Utc> = got["published_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(published, "2025-02-21T01:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap());
        // Every paragraph of the Markdown body survives, character for character.
        let html = got["content_html"].as_str().unwrap();
        for para in body["content_markdown"].as_str().unwrap().split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            assert!(html.contains(para), "paragraph lost or altered: {para}");
        }
        // The derived summary is a whole-character prefix of the text, ending in an ellipsis.
        let summary = got["summary"].as_str().unwrap();
        assert!(summary.ends_with('…'), "{summary}");
        assert!(summary.starts_with("2月20日,青藏高原牧场的风"), "{summary}");
        assert!(summary.chars().count() <= 121);
    }

    async fn resending_an_unchanged_article_is_a_no_op(app) {
        let body = common::article("news", "职工之家");
        assert_eq!(app.put_article("a1", &body).await.status(), StatusCode::CREATED);
        let first: Value = app.get_article("a1").await.json().await.unwrap();
        app.clock.advance(chrono::Duration::minutes(5));
        let mut events = app.state.events.subscribe();

        let resp = app.put_article("a1", &body).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["tidings-result"], "unchanged");
        let second: Value = app.get_article("a1").await.json().await.unwrap();
        assert_eq!(first["modified_at"], second["modified_at"]);
        assert_eq!(first["content_hash"], second["content_hash"]);
        assert!(events.try_recv().is_err(), "an unchanged put announced a change");
    }

    async fn changing_an_article_updates_it_and_announces_both_sections(app) {
        assert_eq!(app.put_article("a1", &common::article("news", "旧标题")).await.status(), StatusCode::CREATED);
        let mut events = app.state.events.subscribe();
        let resp = app.put_article("a1", &common::article("notices", "新标题")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["tidings-result"], "updated");
        let got: Value = app.get_article("a1").await.json().await.unwrap();
        assert_eq!(got["title"], "新标题");
        assert_eq!(got["section"], "notices");
        let change = events.recv().await.unwrap();
        assert_eq!(change, tidings::events::Change::Sections(vec!["notices".into(), "news".into()]));
        assert_eq!(app.state.store.count_articles().await.unwrap(), 1);
    }

    async fn deleting_retracts_and_a_second_delete_is_404(app) {
        app.put_article("gone", &common::article("news", "撤回")).await;
        let del = || app.client.delete(app.url("/api/v1/articles/gone")).bearer_auth(common::PUBLISHER_TOKEN).send();
        assert_eq!(del().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get_article("gone").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(del().await.unwrap().status(), StatusCode::NOT_FOUND);
        // Sending it again brings it back as new.
        assert_eq!(app.put_article("gone", &common::article("news", "撤回")).await.status(), StatusCode::CREATED);
    }

    async fn listing_pages_newest_first_with_a_cursor(app) {
        for i in 0..7 {
            let mut body = common::article(if i % 2 == 0 { "news" } else { "notices" }, &format!("第{i}篇"));
            body["published_at"] = format!("2025-03-0{}T08:00:00+08:00", i + 1).into();
            assert_eq!(app.put_article(&format!("p{i}"), &body).await.status(), StatusCode::CREATED);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = app.url("/api/v1/articles?limit=3");
            if let Some(c) = &cursor { url.push_str(&format!("&cursor={c}")); }
            let page: Value = app.client.get(url).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap().json().await.unwrap();
            seen.extend(page["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() { Some(c) => cursor = Some(c.to_owned()), None => break }
        }
        assert_eq!(seen, ["p6", "p5", "p4", "p3", "p2", "p1", "p0"]);

        let news: Value = app.client.get(app.url("/api/v1/articles?section=news")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap().json().await.unwrap();
        let ids: Vec<&str> = news["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["p6", "p4", "p2", "p0"]);
        assert!(news["next_cursor"].is_null());

        for bad in ["limit=0", "limit=1001", "limit=abc", "cursor=%%%", "section=nope", "sektion=news"] {
            let r = app.client.get(app.url(&format!("/api/v1/articles?{bad}"))).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    async fn a_future_article_stays_invisible_until_its_instant_then_announces_itself(app) {
        let now = app.clock.now();
        let mut body = common::article("notices", "明日发布");
        body["published_at"] = (now + chrono::Duration::hours(2)).to_rfc3339().into();
        let resp = app.put_article("later", &body).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let got: Value = resp.json().await.unwrap();
        assert_eq!(got["status"], "scheduled");
        let visible = app.state.store.list_articles(Some("notices"), Some(app.clock.now()), 50, None).await.unwrap();
        assert!(visible.items.is_empty());

        let mut events = app.state.events.subscribe();
        app.clock.advance(chrono::Duration::hours(2));
        let change = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv()).await.expect("no change at the publication instant").unwrap();
        assert_eq!(change, tidings::events::Change::Sections(vec!["notices".into()]));
        let visible = app.state.store.list_articles(Some("notices"), Some(app.clock.now()), 50, None).await.unwrap();
        assert_eq!(visible.items.len(), 1);
        let got: Value = app.get_article("later").await.json().await.unwrap();
        assert_eq!(got["status"], "published");
    }

    async fn markdown_and_html_are_sanitised_on_the_way_in(app) {
        let body = json!({
            "section": "news",
            "title": "安全",
            "url": "https://www.example.org/x/page.html",
            "content_html": "<p onclick=\"x()\">正文<script>alert(1)</script><img src=\"/i.png\" onerror=\"alert(2)\"><a href=\"javascript:alert(3)\">链</a><svg onload=\"alert(4)\"><circle/></svg></p>",
            "published_at": "2025-02-21T09:00:00Z",
        });
        assert_eq!(app.put_article("xss", &body).await.status(), StatusCode::CREATED);
        let got: Value = app.get_article("xss").await.json().await.unwrap();
        let html = got["content_html"].as_str().unwrap();
        for bad in ["<script", "onclick", "onerror", "javascript:", "<svg", "onload", "alert"] {
            assert!(!html.contains(bad), "{bad} kept in {html}");
        }
        assert!(html.contains("正文"));
        assert!(html.contains("https://www.example.org/i.png"), "relative image not made absolute: {html}");
    }
}
