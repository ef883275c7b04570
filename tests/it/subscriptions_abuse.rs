//! Abuse resistance and language of the subscription endpoints: the same answer whatever an
//! address's state, one mail per address per 10 minutes, per-client and global rate limits,
//! and the page language chosen from the request.

use crate::common;

use common::subscriptions::{status_of, subscribe_and_confirm, subscribe_form, subscribe_json};

use reqwest::StatusCode;
use serde_json::json;
use tidings::{App, clock::Clock};

const LI: &str = "li.lei@example.org";

with_smtp_on_both_backends! {
    async fn new_pending_and_active_addresses_get_the_same_answer(app, smtp) {
        subscribe_and_confirm(&app, &smtp, "active@example.org").await;
        subscribe_json(&app, json!({ "email": "pending@example.org" })).await;
        let mut answers = Vec::new();
        for email in ["new@example.org", "pending@example.org", "active@example.org"] {
            let j = subscribe_json(&app, json!({ "email": email })).await;
            let j = (j.status(), j.text().await.unwrap());
            let f = subscribe_form(&app, &[("email", email)]).await;
            let f = (f.status(), f.text().await.unwrap().replace(email, "EMAIL"));
            answers.push((j, f));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[1], answers[2]);
        assert_eq!(answers[0].0.0, StatusCode::ACCEPTED);
    }

    async fn one_address_gets_at_most_one_confirmation_mail_per_ten_minutes(app, smtp) {
        for _ in 0..3 {
            assert_eq!(subscribe_json(&app, json!({ "email": LI })).await.status(), StatusCode::ACCEPTED);
        }
        smtp.wait_for(1).await;
        subscribe_json(&app, json!({ "email": "other@example.org" })).await;
        smtp.wait_for(2).await;
        assert_eq!(smtp.to(LI).len(), 1);
        let id = app.state.store.subscriber_by_email(LI).await.unwrap().unwrap().id;
        assert_eq!(app.state.store.count_tokens(id).await.unwrap(), 1);

        app.clock.advance(chrono::Duration::minutes(10));
        subscribe_json(&app, json!({ "email": LI })).await;
        smtp.wait_for(3).await;
        assert_eq!(smtp.to(LI).len(), 2);
    }

    async fn too_many_requests_from_one_client_answer_429_with_retry_after(app, smtp) where |c| {
        c.subscriptions.ip_burst = 2;
        c.subscriptions.ip_per_hour = 60;
    } {
        for i in 0..2 {
            let r = subscribe_json(&app, json!({ "email": format!("p{i}@example.org") })).await;
            assert_eq!(r.status(), StatusCode::ACCEPTED);
        }
        let r = subscribe_json(&app, json!({ "email": "p2@example.org" })).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "60");
        let page = subscribe_form(&app, &[("email", "p2@example.org")]).await;
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(page.text().await.unwrap().contains("60"));
        assert_eq!(status_of(&app, "p2@example.org").await, None);

        app.clock.advance(chrono::Duration::seconds(60));
        assert_eq!(subscribe_json(&app, json!({ "email": "p2@example.org" })).await.status(), StatusCode::ACCEPTED);
    }

    async fn the_hourly_cap_on_confirmation_mails_answers_429(app, smtp) where |c| {
        c.subscriptions.confirmations_per_hour = 2;
    } {
        for i in 0..2 {
            assert_eq!(subscribe_json(&app, json!({ "email": format!("c{i}@example.org") })).await.status(), StatusCode::ACCEPTED);
        }
        let r = subscribe_json(&app, json!({ "email": "c2@example.org" })).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "1800");
        assert_eq!(status_of(&app, "c2@example.org").await, None);
        smtp.wait_for(2).await;
        assert_eq!(smtp.messages().len(), 2);
    }

    async fn replicas_on_one_database_share_the_hourly_cap_and_what_is_given_back(app, smtp) where |c| {
        c.subscriptions.confirmations_per_hour = 2;
    } {
        // A second process on the same database, with the same limits.
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::test_config(dir.path(), &app.database_url);
        config.mail = app.state.config.mail.clone();
        config.subscriptions = app.state.config.subscriptions.clone();
        let other = App::build_with_clock(config, Clock::manual(common::test_start())).await.unwrap();
        let other_base = format!("http://{}", other.local_addr());
        let other_state = other.state();
        tokio::spawn(other.run());
        let on_other = |email: &'static str| {
            let r = app.client.post(format!("{other_base}/subscribe")).json(&json!({ "email": email }));
            async move { r.send().await.unwrap() }
        };

        assert_eq!(subscribe_json(&app, json!({ "email": "c0@example.org" })).await.status(), StatusCode::ACCEPTED);
        smtp.wait_for(1).await;
        // The same address again within ten minutes takes a unit, sends nothing and gives the
        // unit back (in the other process's outbox worker).
        assert_eq!(on_other("c0@example.org").await.status(), StatusCode::ACCEPTED);
        let mut accepted = false;
        for _ in 0..250 {
            if on_other("c1@example.org").await.status() == StatusCode::ACCEPTED {
                accepted = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(accepted, "the unit given back by one process is usable by the other");
        smtp.wait_for(2).await;
        // Two mails taken out of two per hour, across both processes: the first one is full too.
        let r = subscribe_json(&app, json!({ "email": "c2@example.org" })).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "1800");
        assert_eq!(on_other("c3@example.org").await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(smtp.messages().len(), 2);
        other_state.shutdown.cancel();
    }

    async fn pages_speak_the_locale_field_then_accept_language_then_the_site_language(app, smtp) {
        let get = |q: &'static str, lang: Option<&'static str>| {
            let mut r = app.client.get(app.url(&format!("/subscribe{q}")));
            if let Some(l) = lang {
                r = r.header("accept-language", l);
            }
            async move { r.send().await.unwrap().text().await.unwrap() }
        };
        assert!(get("", None).await.contains("订阅邮件摘要"));
        assert!(get("", Some("en-US,en;q=0.9,zh;q=0.5")).await.contains("Subscribe to the email digest"));
        assert!(get("?locale=zh-CN", Some("en")).await.contains("订阅邮件摘要"));
        assert!(get("", Some("fr, de")).await.contains("订阅邮件摘要"));
        let bad = app.client.get(app.url("/subscribe?locale=xx")).send().await.unwrap();
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

/// A mail server that accepts connections and never answers.
fn silent_smtp() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", l.local_addr().unwrap());
    (l, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_never_waits_for_the_mail_server() {
    // Timing must not tell an address's state: the sign-up is recorded and mailed from a
    // queue, so even a mail server that hangs does not slow the answer down.
    let (_held, url) = silent_smtp();
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.mail.transport = tidings::config::MailTransport::Smtp;
        c.mail.smtp_url = Some(url);
        c.mail.timeout = Some("20s".into());
    })
    .await
    .unwrap();
    for email in ["a@example.org", "b@example.org", "a@example.org"] {
        let started = std::time::Instant::now();
        let r = subscribe_json(&app, json!({ "email": email })).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    // The sign-up itself is recorded by the worker, mail server or not.
    let recorded = async {
        while status_of(&app, "b@example.org").await.is_none() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), recorded)
        .await
        .expect("sign-up recorded");
}
