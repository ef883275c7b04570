//! Instant schedules: a publication is mailed within the window, at most one mail per window,
//! through the same ledger and runs as digests, once however many replicas run.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{TestApp, smtp::token_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::digest_delivery::{import, publish, wait_done};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(crate) async fn put_schedule(app: &TestApp, slug: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/schedules/{slug}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn get_schedule(app: &TestApp, slug: &str, locale: &str) -> Value {
    app.client
        .get(app.url(&format!("/api/v1/schedules/{slug}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .header("accept-language", locale)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs of `schedule`, oldest first.
pub(crate) async fn runs_of(app: &TestApp, schedule: &str) -> Vec<Value> {
    let v: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/runs?schedule={}",
            common::urlencode(schedule)
        )))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut runs = v["items"].as_array().unwrap().clone();
    runs.reverse();
    runs
}

/// An instant schedule `alerts` mailing at most once per 10 minutes.
pub(crate) async fn alerts(app: &TestApp) {
    let r = put_schedule(
        app,
        "alerts",
        json!({"name": "快讯", "kind": "instant", "window": "10m"}),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
}

/// The `href` of the first link on `html` whose target starts with `path`.
fn link_on(html: &str, path: &str) -> String {
    let page = scraper::Html::parse_document(html);
    let links = scraper::Selector::parse("a[href]").unwrap();
    page.select(&links)
        .filter_map(|a| a.value().attr("href"))
        .find(|href| href.starts_with(path))
        .unwrap_or_else(|| panic!("no link to {path} on {html}"))
        .to_owned()
}

/// The manage page's form as a browser would send it untouched (hidden fields, checked boxes
/// and radio buttons, selected options), and the schedules its radio buttons offer.
fn manage_form(html: &str) -> (Vec<(String, String)>, Vec<String>) {
    let page = scraper::Html::parse_document(html);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let form = page
        .select(&sel("form[action=\"/subscriptions/manage\"]"))
        .next()
        .unwrap_or_else(|| panic!("no manage form on {html}"));
    let mut fields = Vec::new();
    for input in form.select(&sel("input[name]")) {
        let e = input.value();
        let ticked =
            !matches!(e.attr("type"), Some("checkbox" | "radio")) || e.attr("checked").is_some();
        if ticked {
            fields.push((
                e.attr("name").unwrap().to_owned(),
                e.attr("value").unwrap_or("on").to_owned(),
            ));
        }
    }
    for select in form.select(&sel("select[name]")) {
        if let Some(option) = select.select(&sel("option[selected]")).next() {
            let name = select.value().attr("name").unwrap().to_owned();
            fields.push((name, option.value().attr("value").unwrap().to_owned()));
        }
    }
    let offered = form
        .select(&sel("input[type=radio][name=schedule]"))
        .map(|r| r.value().attr("value").unwrap().to_owned())
        .collect();
    (fields, offered)
}

/// Waits (at most 10 s) until a background loop of `app` waits for the clock to reach `t`:
/// the scheduler has seen what was published and parked until the window's end.
async fn parked_until(app: &TestApp, t: DateTime<Utc>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !app.clock.waiting().contains(&t) {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing waits for {t}: {:?}",
            app.clock.waiting()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

with_smtp_on_both_backends! {
    async fn a_publication_is_mailed_at_once_and_the_next_one_at_the_end_of_the_window(app, smtp) {
        alerts(&app).await;
        import(&app, "reader@example.com,,alerts\ndaily@example.com,,daily\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        let t0 = app.clock.now();

        // Published: the scheduler hears of it and the mail goes out, no tick from the test.
        publish(&app, "a1", "news", "快讯一").await;
        let mails = smtp.wait_for(1).await;
        assert_eq!(mails[0].to, ["reader@example.com"]);
        assert!(mails[0].html().contains("快讯一"));
        let runs = runs_of(&app, "alerts").await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["fire_at"], rfc3339(t0));
        wait_done(&app, runs[0]["id"].as_i64().unwrap()).await;

        // A second article inside the window waits for its end.
        app.clock.advance(chrono::Duration::minutes(2));
        publish(&app, "a2", "news", "快讯二").await;
        let window_end = t0 + chrono::Duration::minutes(10);
        parked_until(&app, window_end).await;
        let report = app.state.digests.scheduler.tick().await.unwrap();
        assert!(report.started.is_empty(), "{report:?}");
        assert_eq!(report.next_instant, Some(window_end));
        assert_eq!(runs_of(&app, "alerts").await.len(), 1);
        assert_eq!(smtp.messages().len(), 1, "a second mail inside the window");
        let view = get_schedule(&app, "alerts", "en").await;
        assert_eq!(view["next_fire_at"], json!([rfc3339(window_end)]), "{view}");

        // The window ends: the second mail holds only what is new.
        app.clock.set(window_end);
        let mails = smtp.wait_for(2).await;
        assert_eq!(mails.len(), 2);
        assert!(mails[1].html().contains("快讯二"));
        assert!(!mails[1].html().contains("快讯一"), "an article mailed twice");
        let runs = runs_of(&app, "alerts").await;
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1]["fire_at"], rfc3339(window_end));
        wait_done(&app, runs[1]["id"].as_i64().unwrap()).await;
        assert!(smtp.to("daily@example.com").is_empty(), "a digest subscriber got an alert");
        assert_eq!(get_schedule(&app, "alerts", "en").await["next_fire_at"], json!([]));
    }

    async fn an_article_nobody_follows_makes_no_run_and_holds_back_no_one(app, smtp) {
        alerts(&app).await;
        import(&app, "news@example.com,news,alerts\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "t1", "notices", "通知一").await;
        app.state.digests.scheduler.tick().await.unwrap();
        assert!(runs_of(&app, "alerts").await.is_empty(), "a run for a section nobody follows");

        // Two minutes later, news: mailed at once, not at the end of a window.
        app.clock.advance(chrono::Duration::minutes(2));
        let t = app.clock.now();
        publish(&app, "n1", "news", "要闻一").await;
        let mails = smtp.wait_for(1).await;
        assert!(mails[0].html().contains("要闻一") && !mails[0].html().contains("通知一"));
        assert_eq!(runs_of(&app, "alerts").await[0]["fire_at"], rfc3339(t));
    }

    async fn a_scheduled_article_is_mailed_when_it_becomes_visible(app, smtp) {
        alerts(&app).await;
        import(&app, "reader@example.com,,alerts\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        let at = app.clock.now() + chrono::Duration::minutes(30);
        let mut body = common::article("news", "定时快讯");
        body["published_at"] = at.to_rfc3339().into();
        assert!(app.put_article("s1", &body).await.status().is_success());
        app.state.digests.scheduler.tick().await.unwrap();
        assert!(runs_of(&app, "alerts").await.is_empty(), "mailed before its publication time");

        app.clock.set(at);
        let mails = smtp.wait_for(1).await;
        assert!(mails[0].html().contains("定时快讯"));
        assert_eq!(runs_of(&app, "alerts").await[0]["fire_at"], rfc3339(at));
    }

    async fn a_disabled_instant_schedule_mails_nothing_and_enabling_it_replays_nothing(app, smtp) {
        alerts(&app).await;
        import(&app, "reader@example.com,,alerts\n").await;
        let r = put_schedule(&app, "alerts", json!({"name": "快讯", "kind": "instant", "window": "10m", "enabled": false})).await;
        assert_eq!(r.status(), StatusCode::OK);
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "old", "news", "旧闻").await;
        app.state.digests.scheduler.tick().await.unwrap();
        let r = put_schedule(&app, "alerts", json!({"name": "快讯", "kind": "instant", "window": "10m"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        app.state.digests.scheduler.tick().await.unwrap();
        assert!(runs_of(&app, "alerts").await.is_empty(), "enabling replayed a publication");

        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "new", "news", "新闻").await;
        let mails = smtp.wait_for(1).await;
        assert!(mails[0].html().contains("新闻"));
        assert_eq!(smtp.messages().len(), 1);
    }

    async fn members_choose_an_instant_schedule_on_the_subscribe_page(app, smtp) {
        alerts(&app).await;
        let page = app.client.get(app.url("/subscribe")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("value=\"alerts\""), "{page}");
        let r = common::subscriptions::subscribe_json(&app, json!({"email": "m@example.com", "schedule": "alerts"})).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let confirm = smtp.wait_for(1).await.pop().unwrap();
        let token = token_of(&confirm.link_to("/subscriptions/confirm"));
        let r = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", &token)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let sub = app.state.store.subscriber_by_email("m@example.com").await.unwrap().unwrap();
        assert_eq!(sub.schedule, "alerts");

        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "n1", "news", "要闻一").await;
        let mails = smtp.wait_for(2).await;
        assert!(mails[1].html().contains("要闻一"));
    }

    async fn a_member_switches_to_an_instant_schedule_on_the_manage_page_and_gets_no_more_digests(app, smtp) {
        const MEMBER: &str = "wang.fang@example.org";
        alerts(&app).await;
        import(&app, "daily@example.com,news,daily\n").await;
        // A member of the daily digest; the page that confirms links to the manage page.
        let r = common::subscriptions::subscribe_form(&app, &[("email", MEMBER), ("sections", "news"), ("schedule", "daily")]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let confirm = smtp.wait_for(1).await.pop().unwrap();
        let token = token_of(&confirm.link_to("/subscriptions/confirm"));
        let r = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", &token)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let manage = link_on(&r.text().await.unwrap(), "/subscriptions/manage?");

        // The manage page offers the instant schedule beside the digest the member has.
        let r = app.client.get(app.url(&manage)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let (mut fields, offered) = manage_form(&r.text().await.unwrap());
        assert!(offered.contains(&"alerts".to_owned()), "not offered: {offered:?}");
        assert!(fields.contains(&("schedule".into(), "daily".into())), "{fields:?}");
        assert!(fields.iter().any(|(name, _)| name == "token"), "{fields:?}");

        // Chosen, and the form sent as it is otherwise (with the token it carries).
        fields.retain(|(name, _)| name != "schedule");
        fields.push(("schedule".into(), "alerts".into()));
        let r = app.client.post(app.url("/subscriptions/manage")).form(&fields).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let (saved, _) = manage_form(&r.text().await.unwrap());
        assert!(saved.contains(&("schedule".into(), "alerts".into())), "{saved:?}");
        let sub = app.state.store.subscriber_by_email(MEMBER).await.unwrap().unwrap();
        assert_eq!((sub.schedule.as_str(), sub.sections.as_slice()), ("alerts", ["news".to_owned()].as_slice()));

        // A publication in news: mailed to the member at once by the instant schedule.
        app.clock.advance(chrono::Duration::minutes(1));
        let t = app.clock.now();
        publish(&app, "n1", "news", "要闻一").await;
        let mails = smtp.wait_for(2).await;
        assert_eq!(mails[1].to, [MEMBER]);
        assert!(mails[1].html().contains("要闻一"));
        let runs = runs_of(&app, "alerts").await;
        assert_eq!((runs.len(), &runs[0]["fire_at"]), (1, &json!(rfc3339(t))), "{runs:?}");
        wait_done(&app, runs[0]["id"].as_i64().unwrap()).await;

        // The next daily digest (08:00 in Shanghai) goes to its subscriber, not to the member.
        app.clock.set("2026-03-02T00:00:00Z".parse().unwrap());
        app.state.digests.scheduler.tick().await.unwrap();
        let daily = runs_of(&app, "daily").await;
        assert_eq!(daily.len(), 1, "{daily:?}");
        let run = wait_done(&app, daily[0]["id"].as_i64().unwrap()).await;
        assert_eq!((run["total"].as_i64(), run["sent"].as_i64()), (Some(1), Some(1)), "{run}");
        let digest = smtp.to("daily@example.com");
        assert!(digest.len() == 1 && digest[0].html().contains("要闻一"), "{digest:#?}");
        assert_eq!(smtp.to(MEMBER).len(), 2, "the member got a digest besides the confirmation and the alert");
    }
}

on_both_backends! {
    async fn instant_schedules_answer_with_their_window_and_a_reading_of_it(app) {
        let r = put_schedule(&app, "alerts", json!({"name": "快讯", "kind": "instant", "window": "10m", "first_digest_articles": 0})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let en = get_schedule(&app, "alerts", "en").await;
        assert_eq!(en["kind"], "instant");
        assert_eq!(en["window"], "10m");
        assert_eq!(en["cron"], Value::Null);
        assert_eq!(en["first_digest_articles"], 0);
        assert_eq!(en["description"], "within 10 minutes of a publication (at most one mail per 10 minutes to each subscriber)");
        assert_eq!(en["next_fire_at"], json!([]));
        let zh = get_schedule(&app, "alerts", "zh-CN").await;
        assert_eq!(zh["description"], "有新文章发布后 10 分钟内发送（每位订阅者每 10 分钟最多一封）");
        let daily = get_schedule(&app, "daily", "en").await;
        assert_eq!((daily["kind"].as_str(), daily["window"].as_str(), daily["first_digest_articles"].as_i64()), (Some("digest"), None, Some(3)));

        for (body, field) in [
            (json!({"name": "x", "kind": "instant"}), "window"),
            (json!({"name": "x", "kind": "instant", "window": "30s"}), "window"),
            (json!({"name": "x", "kind": "instant", "window": "2d"}), "window"),
            (json!({"name": "x", "kind": "instant", "window": "soon"}), "window"),
            (json!({"name": "x", "kind": "instant", "window": "10m", "cron": "0 8 * * *"}), "cron"),
            (json!({"name": "x", "cron": "0 8 * * *", "window": "10m"}), "window"),
            (json!({"name": "x", "kind": "hourly", "cron": "0 8 * * *"}), "kind"),
            (json!({"name": "x", "cron": "0 8 * * *", "first_digest_articles": 51}), "first_digest_articles"),
            (json!({"name": "x", "cron": "0 8 * * *", "first_digest_articles": -1}), "first_digest_articles"),
        ] {
            let r = put_schedule(&app, "bad", body.clone()).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["field"], field, "{body}: {answer}");
        }
        assert!(app.state.store.get_schedule("bad").await.unwrap().is_none());

        // A digest can become instant and back; its answer follows.
        let r = put_schedule(&app, "alerts", json!({"name": "快讯", "cron": "0 8 * * *"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let back: Value = r.json().await.unwrap();
        assert_eq!((back["kind"].as_str(), back["window"].as_str(), back["next_fire_at"].as_array().unwrap().len()), (Some("digest"), None, 5));
    }
}
