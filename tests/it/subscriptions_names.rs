//! What pages and the confirmation mail call sections and schedules (issue 14): a stored text
//! of the page's language, else the stored name in the site's language, else the strings
//! file; so a renamed schedule is called by its new name everywhere, and English pages use
//! the English texts admins stored.

use crate::common;

use std::collections::BTreeMap;

use common::{smtp::token_of, subscriptions::subscribe_form};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::json;
use tidings::{clock::to_ms, subscriptions::links};

/// Renames the `daily` schedule to `name` through the admin API.
async fn rename_daily(app: &common::TestApp, name: &str) {
    let mut daily: serde_json::Value = app
        .client
        .get(app.url("/api/v1/schedules/daily"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    daily["name"] = name.into();
    let body: serde_json::Map<String, serde_json::Value> = [
        "name",
        "cron",
        "timezone",
        "enabled",
        "send_when_empty",
        "max_articles",
    ]
    .iter()
    .map(|k| (k.to_string(), daily[*k].clone()))
    .collect();
    let r = app
        .client
        .put(app.url("/api/v1/schedules/daily"))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// The labels of the radio buttons named `name` on `html`.
fn choices(html: &str, name: &str) -> Vec<String> {
    let input = Selector::parse(&format!("input[name={name}]")).unwrap();
    Html::parse_document(html)
        .select(&Selector::parse("label.choice").unwrap())
        .filter(|l| l.select(&input).next().is_some())
        .map(|l| {
            // A schedule's label holds its name and, under it, when its mail comes.
            let name = l
                .select(&Selector::parse(".name").unwrap())
                .next()
                .unwrap_or(l);
            name.text().collect::<String>().trim().to_owned()
        })
        .collect()
}

async fn page(app: &common::TestApp, path: &str) -> String {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

with_smtp_on_both_backends! {
    async fn a_renamed_schedule_is_called_by_its_new_name_on_pages_and_in_the_confirmation_mail(app, smtp) {
        rename_daily(&app, "早间快报").await;
        app.state.store.put_schedule_texts("daily", &BTreeMap::from([("en".to_owned(), "Morning briefing".to_owned())])).await.unwrap();
        // No English name stored for the weekly one (an empty text removes one): the strings
        // file's stands in.
        app.state.store.put_schedule_texts("weekly", &BTreeMap::from([("en".to_owned(), String::new())])).await.unwrap();

        assert_eq!(choices(&page(&app, "/subscribe?locale=zh-CN").await, "schedule"), ["早间快报", "每周摘要"]);
        // English: the stored English name, else the strings file's.
        assert_eq!(choices(&page(&app, "/subscribe?locale=en").await, "schedule"), ["Morning briefing", "Weekly digest"]);
        let offer: serde_json::Value = app.client.get(app.url("/subscribe?locale=en")).header("accept", "application/json").send().await.unwrap().json().await.unwrap();
        assert_eq!(offer["schedules"][0]["title"], "Morning briefing");

        subscribe_form(&app, &[("email", "zh@example.org"), ("schedule", "daily"), ("locale", "zh-CN")]).await;
        let zh = smtp.wait_for(1).await.pop().unwrap();
        assert!(zh.text().contains("早间快报") && !zh.text().contains("每日摘要"), "{}", zh.text());
        subscribe_form(&app, &[("email", "en@example.org"), ("schedule", "daily"), ("locale", "en")]).await;
        let en = smtp.wait_for(2).await.pop().unwrap();
        assert!(en.text().contains("Morning briefing"), "{}", en.text());
        assert!(en.html().contains("Morning briefing"));

        // The manage page of the English subscriber, once confirmed.
        let token = token_of(&en.link_to("/subscriptions/confirm"));
        app.client.post(app.url("/subscriptions/confirm")).form(&[("token", token)]).send().await.unwrap();
        let s = app.state.store.subscriber_by_email("en@example.org").await.unwrap().unwrap();
        let l = links::issue_subscriber_links(&app.state.store, "http://feeds.example.test", &[(s.id, s.generation, "en")], to_ms(app.clock.now())).await.unwrap().pop().unwrap();
        let manage = page(&app, &format!("/subscriptions/manage?token={}&locale=en", token_of(&l.manage_url))).await;
        assert_eq!(choices(&manage, "schedule"), ["Morning briefing", "Weekly digest"]);
    }

    async fn english_pages_use_the_english_section_titles_admins_stored(app, _smtp) {
        let r = app.client.put(app.url("/api/v1/sections/news")).bearer_auth(common::ADMIN_TOKEN)
            .json(&json!({ "titles": { "zh-CN": "工会要闻", "en": "Federation news" } }))
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let en = choices(&page(&app, "/subscribe?locale=en").await, "sections");
        assert_eq!(en, ["Federation news", "Notices", "Grassroots", "About the federation"]);
        let zh = choices(&page(&app, "/subscribe?locale=zh-CN").await, "sections");
        assert_eq!(zh, ["工会要闻", "通知公告", "基层动态", "工会简介"]);
    }
}

/// The `.when` line of each schedule choice on `html`, by schedule slug.
fn when_lines(html: &str) -> BTreeMap<String, String> {
    let doc = Html::parse_document(html);
    let label = Selector::parse("label.choice").unwrap();
    let radio = Selector::parse("input[name=schedule]").unwrap();
    let when = Selector::parse(".when").unwrap();
    doc.select(&label)
        .filter_map(|l| {
            let slug = l.select(&radio).next()?.attr("value")?.to_owned();
            let line = l.select(&when).next().map(|w| w.text().collect::<String>());
            Some((slug, line.unwrap_or_default().trim().to_owned()))
        })
        .collect()
}

on_both_backends! {
    async fn each_schedule_on_offer_says_when_its_mail_comes_in_the_pages_language(app) {
        let r = crate::digest_instant::put_schedule(&app, "alerts", json!({"name": "快讯", "kind": "instant", "window": "10m"})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let daily: serde_json::Value = app.client.get(app.url("/api/v1/schedules/daily")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        let zh = when_lines(&page(&app, "/subscribe?locale=zh-CN").await);
        let en = when_lines(&page(&app, "/subscribe?locale=en").await);
        assert_eq!(zh["alerts"], "有新文章发布后 10 分钟内发送（每位订阅者每 10 分钟最多一封）");
        assert_eq!(en["alerts"], "within 10 minutes of a publication (at most one mail per 10 minutes to each subscriber)");
        // A digest reads as its cron does in the admin API, in the page's language.
        let described = |locale: &str| {
            let schedule = tidings::domain::CronSpec::parse(daily["cron"].as_str().unwrap()).unwrap();
            tidings::domain::describe::describe(&schedule, daily["timezone"].as_str().unwrap(), locale)
        };
        assert_eq!(zh["daily"], described("zh-CN"));
        assert_eq!(en["daily"], described("en"));
        assert!(zh["daily"].starts_with("每天"), "{zh:?}");
        // The front door offers the same lines once its page is rebuilt (it is kept for 5 s).
        app.clock.advance(chrono::Duration::seconds(6));
        assert_eq!(when_lines(&page(&app, "/?locale=en").await)["alerts"], en["alerts"]);
    }
}
