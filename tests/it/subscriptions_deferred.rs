//! The per-address limit (one confirmation mail per 10 minutes, SPEC §5) holds mail back, it
//! no longer drops it (issue 14): the answer is the same for every address, and the mail
//! goes out when the window ends, once, with the newest request's choices, whichever
//! process sends it and even when the one that claimed it died.

use crate::common;

use std::time::Duration;

use chrono::Duration as Span;
use common::{
    feeds::eventually,
    smtp::{SmtpServer, token_of},
    subscriptions::{status_of, subscribe_and_confirm, subscribe_form},
};
use reqwest::StatusCode;
use tidings::{
    App,
    clock::{Clock, from_ms, to_ms},
    config::MailTransport,
    domain::SubscriberStatus,
    store::DeferredSignup,
};

const LI: &str = "li.lei@example.org";
const WAIT: Duration = Duration::from_secs(10);

async fn kept(app: &common::TestApp, email: &str) -> Option<(DeferredSignup, i64)> {
    let s = app.state.store.subscriber_by_email(email).await.unwrap()?;
    app.state.store.deferred_signup(s.id).await.unwrap()
}

/// Unsubscribes `email` through a digest's one-click link.
async fn unsubscribe(app: &common::TestApp, email: &str) {
    let token = common::subscriptions::unsubscribe_token(app, email, "zh-CN").await;
    let r = app
        .client
        .post(app.url(&format!("/unsubscribe?token={token}")))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Waits until the worker has parked until `due` (it has planned for the kept sign-up).
async fn parked_until(clock: &Clock, due: i64) {
    assert!(
        eventually(WAIT, || async { clock.waiting().contains(&from_ms(due)) }).await,
        "the worker never planned for {due}: {:?}",
        clock.waiting()
    );
}

with_smtp_on_both_backends! {
    async fn subscribing_again_right_after_unsubscribing_mails_when_the_window_ends_with_the_newest_choices(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let first_mail_at = to_ms(app.clock.now());
        unsubscribe(&app, LI).await;
        app.clock.advance(Span::minutes(1));

        let held = subscribe_form(&app, &[("email", LI), ("sections", "news"), ("schedule", "daily"), ("locale", "zh-CN")]).await;
        assert_eq!(held.status(), StatusCode::OK);
        assert!(eventually(WAIT, || async { kept(&app, LI).await.is_some() }).await, "the sign-up was dropped");
        app.clock.advance(Span::minutes(1));
        let newest = subscribe_form(&app, &[("email", LI), ("sections", "notices"), ("sections", "grassroots"), ("schedule", "weekly"), ("locale", "en")]).await;
        assert_eq!(newest.status(), StatusCode::OK);
        assert!(eventually(WAIT, || async { kept(&app, LI).await.is_some_and(|(d, _)| d.prefs.schedule == "weekly") }).await);
        let (d, due) = kept(&app, LI).await.unwrap();
        assert_eq!(due, first_mail_at + 10 * 60_000, "due when the address's window ends");
        assert_eq!(d.prefs.sections, Some(vec!["grassroots".to_owned(), "notices".to_owned()]));
        assert_eq!(smtp.messages().len(), 1, "nothing sent inside the window");

        app.clock.set(from_ms(due));
        let mail = smtp.wait_for(2).await.pop().unwrap();
        assert_eq!(mail.to, [LI]);
        assert_eq!(mail.header("Subject").unwrap(), "Please confirm your 青海省总工会 digest subscription");
        assert!(mail.text().to_lowercase().contains("weekly digest"), "{}", mail.text());
        assert!(eventually(WAIT, || async { kept(&app, LI).await.is_none() }).await);

        let token = token_of(&mail.link_to("/subscriptions/confirm"));
        let r = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", token)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let s = app.state.store.subscriber_by_email(LI).await.unwrap().unwrap();
        assert_eq!(s.status, SubscriberStatus::Active);
        assert_eq!((s.sections, s.schedule.as_str(), s.locale.as_str()), (vec!["grassroots".to_owned(), "notices".to_owned()], "weekly", "en"));

        // One mail: nothing is kept that could bring another.
        assert_eq!(smtp.messages().len(), 2);
    }

    async fn a_held_back_request_gets_the_same_answer_as_any_other(app, smtp) {
        let fresh = subscribe_form(&app, &[("email", "new@example.org")]).await.text().await.unwrap();
        smtp.wait_for(1).await;
        subscribe_and_confirm(&app, &smtp, LI).await;
        unsubscribe(&app, LI).await;
        let held = subscribe_form(&app, &[("email", LI)]).await;
        assert_eq!(held.status(), StatusCode::OK);
        let held = held.text().await.unwrap();
        assert_eq!(held.replace(LI, "X"), fresh.replace("new@example.org", "X"));
        let json = app.client.post(app.url("/subscribe")).json(&serde_json::json!({ "email": LI })).send().await.unwrap();
        assert_eq!(json.status(), StatusCode::ACCEPTED);
        assert_eq!(json.json::<serde_json::Value>().await.unwrap(), serde_json::json!({ "status": "pending" }));
    }

    async fn a_held_back_mail_claimed_by_a_process_that_died_is_sent_when_its_lease_lapses(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        unsubscribe(&app, LI).await;
        subscribe_form(&app, &[("email", LI)]).await;
        assert!(eventually(WAIT, || async { kept(&app, LI).await.is_some() }).await);
        let (_, due) = kept(&app, LI).await.unwrap();
        // Another process claims it at its instant, then dies before mailing it.
        let taken = app.state.store.claim_deferred_signups(due, 5 * 60_000, "a-process-that-died", 16).await.unwrap();
        assert_eq!(taken.len(), 1);
        app.clock.set(from_ms(due));
        // This process looked at its instant, found it taken, and waits (for at most 30 s).
        parked_until(&app.clock, due + 30_000).await;
        assert_eq!(smtp.messages().len(), 1, "not while the claim holds");

        app.clock.set(from_ms(due + 5 * 60_000));
        let mail = smtp.wait_for(2).await.pop().unwrap();
        assert_eq!(mail.to, [LI]);
        assert!(eventually(WAIT, || async { kept(&app, LI).await.is_none() }).await);
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Pending));
    }
}

/// A second process on the database of `first`, mailing through `smtp`, on its own clock.
async fn second_process(
    first: &common::TestApp,
    smtp: &SmtpServer,
) -> (tidings::AppState, Clock, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path(), &first.database_url);
    config.mail.transport = MailTransport::Smtp;
    config.mail.smtp_url = Some(smtp.url());
    config.subscriptions.ip_burst = 1000;
    let clock = Clock::manual(first.clock.now());
    let app = App::build_with_clock(config, clock.clone())
        .await
        .expect("build the second process");
    let state = app.state();
    tokio::spawn(app.run());
    (state, clock, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_send_a_held_back_mail_once() {
    let smtp = SmtpServer::start();
    let Some(app) =
        common::smtp::spawn_app_with_smtp(common::Backend::Postgres, &smtp, |_| {}).await
    else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL test not run");
        return;
    };
    let (b, b_clock, _dir) = second_process(&app, &smtp).await;
    subscribe_and_confirm(&app, &smtp, LI).await;
    unsubscribe(&app, LI).await;
    subscribe_form(&app, &[("email", LI)]).await;
    assert!(eventually(WAIT, || async { kept(&app, LI).await.is_some() }).await);
    let (_, due) = kept(&app, LI).await.unwrap();
    // The other process learns of it by asking the database (at most every 30 s).
    b_clock.set(from_ms(due - 10_000));
    parked_until(&b_clock, due).await;

    b_clock.set(from_ms(due));
    app.clock.set(from_ms(due));
    smtp.wait_for(2).await;
    assert!(eventually(WAIT, || async { kept(&app, LI).await.is_none() }).await);
    // Both are idle again, and there was one mail.
    parked_until(&app.clock, due + 30_000).await;
    parked_until(&b_clock, due + 30_000).await;
    assert_eq!(
        smtp.to(LI).len(),
        2,
        "the first confirmation, then the held-back one: {:#?}",
        smtp.to(LI)
    );
    b.shutdown.cancel();
}
