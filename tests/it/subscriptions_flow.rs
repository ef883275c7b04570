//! Double opt-in end to end: the app sends through its real SMTP transport to a server in
//! this process; tests read the mail, follow its links and check the database.

use crate::common;

use common::subscriptions::{status_of, subscribe_and_confirm, subscribe_form, subscribe_json};

use common::smtp::{local, token_of};
use reqwest::StatusCode;
use serde_json::json;
use tidings::{clock::to_ms, domain::SubscriberStatus, subscriptions::links};

const LI: &str = "li.lei@example.org";

/// Issues manage/unsubscribe links the way digests do.
async fn digest_links(app: &common::TestApp, email: &str) -> links::SubscriberLinks {
    let s = app
        .state
        .store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap();
    let now = to_ms(app.clock.now());
    links::issue_subscriber_links(
        &app.state.store,
        "http://feeds.example.test",
        &[(s.id, s.generation, "en")],
        now,
    )
    .await
    .unwrap()
    .pop()
    .unwrap()
}

with_smtp_on_both_backends! {
    async fn subscribing_by_form_mails_a_link_whose_button_activates_the_subscriber(app, smtp) {
        let page = subscribe_form(&app, &[("email", " Li.Lei@Example.ORG "), ("sections", "news"), ("sections", "notices"), ("schedule", "weekly"), ("locale", "en")]).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("Check your inbox"));

        let mail = smtp.wait_for(1).await.pop().unwrap();
        assert_eq!(mail.to, ["Li.Lei@example.org"]);
        assert_eq!(mail.header("Subject").unwrap(), "Please confirm your 青海省总工会 digest subscription");
        assert!(mail.header("From").unwrap().contains("青海省总工会"));
        assert!(mail.text().to_lowercase().contains("weekly digest"), "{}", mail.text());
        let link = mail.link_to("/subscriptions/confirm");
        assert!(link.starts_with("http://feeds.example.test/subscriptions/confirm?token="), "{link}");
        assert_eq!(status_of(&app, "Li.Lei@example.org").await, Some(SubscriberStatus::Pending));

        let shown = app.client.get(local(&app, &link)).send().await.unwrap();
        assert_eq!(shown.status(), StatusCode::OK);
        let html = shown.text().await.unwrap();
        assert!(html.contains(r#"<form method="post" action="/subscriptions/confirm">"#), "{html}");
        assert_eq!(status_of(&app, "Li.Lei@example.org").await, Some(SubscriberStatus::Pending));

        let done = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", token_of(&link))]).send().await.unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        assert!(done.text().await.unwrap().contains("You are subscribed"));
        let s = app.state.store.subscriber_by_email("Li.Lei@example.org").await.unwrap().unwrap();
        assert_eq!(s.status, SubscriberStatus::Active);
        assert_eq!(s.confirmed_at, Some(to_ms(app.clock.now())));
        assert_eq!((s.sections, s.schedule.as_str(), s.locale.as_str()), (vec!["news".to_owned(), "notices".to_owned()], "weekly", "en"));
    }

    async fn subscribing_by_json_answers_202_pending_and_mails_in_the_site_language(app, smtp) {
        let r = subscribe_json(&app, json!({ "email": LI })).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap(), json!({ "status": "pending" }));
        let mail = smtp.wait_for(1).await.pop().unwrap();
        assert_eq!(mail.header("Subject").unwrap(), "请确认订阅青海省总工会邮件摘要");
        assert!(mail.text().contains("每日摘要"), "default schedule is the first configured");
        let s = app.state.store.subscriber_by_email(LI).await.unwrap().unwrap();
        assert!(s.all_sections && s.sections.is_empty());
        assert_eq!((s.schedule.as_str(), s.locale.as_str()), ("daily", "zh-CN"));
    }

    async fn a_mail_scanner_fetching_every_link_changes_nothing(app, smtp) {
        subscribe_json(&app, json!({ "email": LI, "sections": ["news"] })).await;
        let confirm = smtp.wait_for(1).await.pop().unwrap();
        let other = "wang.fang@example.org";
        subscribe_and_confirm(&app, &smtp, other).await;
        app.clock.advance(chrono::Duration::minutes(10));
        subscribe_json(&app, json!({ "email": other })).await;
        let already = smtp.wait_for(3).await.pop().unwrap();
        let digest = digest_links(&app, other).await;
        let before = app.state.store.subscriber_by_email(other).await.unwrap().unwrap();

        let mut links = confirm.links();
        links.extend(already.links());
        links.extend([digest.manage_url.clone(), digest.unsubscribe_url.clone()]);
        for link in &links {
            for accept in ["text/html", "*/*", "application/json"] {
                let r = app.client.get(local(&app, link)).header("accept", accept).send().await.unwrap();
                assert!(r.status().is_success() || r.status() == StatusCode::NOT_FOUND, "{link}: {}", r.status());
            }
            let r = app.client.head(local(&app, link)).send().await.unwrap();
            assert!(r.status().as_u16() < 500, "HEAD {link}");
        }

        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Pending));
        let after = app.state.store.subscriber_by_email(other).await.unwrap().unwrap();
        assert_eq!((after.status, after.sections, after.schedule), (before.status, before.sections, before.schedule));
        assert_eq!(smtp.messages().len(), 3, "no mail was sent by a GET");
    }

    async fn one_click_unsubscribe_urlencoded_without_cookies_answers_200_without_redirect(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let url = local(&app, &digest_links(&app, LI).await.unsubscribe_url);
        for _ in 0..2 {
            let r = app.client.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "repeating is harmless");
            assert!(r.headers().get("location").is_none());
            assert!(r.headers().get("set-cookie").is_none());
            assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));
        }
    }

    async fn one_click_unsubscribe_multipart_answers_200_without_redirect(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let url = local(&app, &digest_links(&app, LI).await.unsubscribe_url);
        let form = reqwest::multipart::Form::new().text("List-Unsubscribe", "One-Click");
        let r = app.client.post(&url).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("location").is_none());
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));
    }

    async fn the_unsubscribe_page_asks_first_and_its_button_unsubscribes(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let url = local(&app, &digest_links(&app, LI).await.unsubscribe_url);
        let page = app.client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\" action=\"/unsubscribe?token="), "{html}");
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Active));
        let done = app.client.post(&url).form(&[("locale", "en")]).send().await.unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        assert!(done.text().await.unwrap().contains("You are unsubscribed"));
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));
    }

    async fn the_manage_page_changes_sections_schedule_and_language(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let links = digest_links(&app, LI).await;
        let page = app.client.get(local(&app, &links.manage_url)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("name=\"schedule\" value=\"weekly\""));
        let token = token_of(&links.manage_url);

        let bad = app.client.post(app.url("/subscriptions/manage"))
            .form(&[("token", token.as_str()), ("schedule", "hourly")]).send().await.unwrap();
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.state.store.subscriber_by_email(LI).await.unwrap().unwrap().schedule, "daily");

        let saved = app.client.post(app.url("/subscriptions/manage"))
            .form(&[("token", token.as_str()), ("sections", "grassroots"), ("sections", "news"), ("schedule", "weekly"), ("locale", "en")])
            .send().await.unwrap();
        assert_eq!(saved.status(), StatusCode::OK);
        assert!(saved.text().await.unwrap().contains("Saved."));
        let s = app.state.store.subscriber_by_email(LI).await.unwrap().unwrap();
        assert_eq!((s.sections, s.schedule.as_str(), s.locale.as_str(), s.all_sections),
            (vec!["grassroots".to_owned(), "news".to_owned()], "weekly", "en", false));

        let all = app.client.post(app.url("/subscriptions/manage"))
            .json(&json!({ "token": token, "sections": [] })).send().await.unwrap();
        assert_eq!(all.status(), StatusCode::OK);
        let body: serde_json::Value = all.json().await.unwrap();
        assert_eq!((body["all_sections"].clone(), body["schedule"].clone()), (json!(true), json!("weekly")));
    }

    async fn an_expired_confirmation_link_offers_a_new_mail_that_works(app, smtp) {
        subscribe_json(&app, json!({ "email": LI })).await;
        let first = smtp.wait_for(1).await.pop().unwrap();
        let link = first.link_to("/subscriptions/confirm");
        app.clock.advance(chrono::Duration::hours(48) + chrono::Duration::seconds(1));

        let shown = app.client.get(local(&app, &link)).send().await.unwrap();
        assert_eq!(shown.status(), StatusCode::GONE);
        let html = shown.text().await.unwrap();
        assert!(html.contains("action=\"/subscriptions/resend\""), "{html}");
        let pressed = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", token_of(&link))]).send().await.unwrap();
        assert_eq!(pressed.status(), StatusCode::GONE);
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Pending));

        let resent = app.client.post(app.url("/subscriptions/resend")).form(&[("token", token_of(&link))]).send().await.unwrap();
        assert_eq!(resent.status(), StatusCode::OK);
        let second = smtp.wait_for(2).await.pop().unwrap();
        let fresh = token_of(&second.link_to("/subscriptions/confirm"));
        assert_ne!(fresh, token_of(&link));
        let done = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", fresh)]).send().await.unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Active));
    }

    async fn links_of_an_earlier_subscription_stop_working_after_resubscribing(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let old = digest_links(&app, LI).await;
        let r = app.client.post(local(&app, &old.unsubscribe_url)).body("").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        app.clock.advance(chrono::Duration::minutes(11));

        subscribe_and_confirm(&app, &smtp, LI).await;

        for url in [&old.unsubscribe_url, &old.manage_url] {
            assert_eq!(app.client.get(local(&app, url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        }
        let one_click = app.client.post(local(&app, &old.unsubscribe_url))
            .header("content-type", "application/x-www-form-urlencoded").body("List-Unsubscribe=One-Click")
            .send().await.unwrap();
        assert_eq!(one_click.status(), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Active));
        assert_eq!(app.state.store.subscriber_by_email(LI).await.unwrap().unwrap().generation, 2);
    }
}
