//! Shared steps of the subscription tests: posting the form as JSON or urlencoded, reading a
//! subscriber's status, and subscribing then confirming through the mailed link.

use reqwest::StatusCode;
use serde_json::json;
use tidings::domain::SubscriberStatus;

use super::{
    TestApp,
    smtp::{Captured, SmtpServer, token_of},
};

pub async fn subscribe_json(app: &TestApp, body: serde_json::Value) -> reqwest::Response {
    app.client
        .post(app.url("/subscribe"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn subscribe_form(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url("/subscribe"))
        .form(form)
        .send()
        .await
        .unwrap()
}

pub async fn status_of(app: &TestApp, email: &str) -> Option<SubscriberStatus> {
    app.state
        .store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .map(|s| s.status)
}

/// Subscribes `email`, confirms through the mailed link, and returns the confirmation mail.
pub async fn subscribe_and_confirm(app: &TestApp, smtp: &SmtpServer, email: &str) -> Captured {
    let before = smtp.messages().len();
    assert_eq!(
        subscribe_json(app, json!({ "email": email }))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let mail = smtp.wait_for(before + 1).await.pop().unwrap();
    let token = token_of(&mail.link_to("/subscriptions/confirm"));
    let r = app
        .client
        .post(app.url("/subscriptions/confirm"))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(status_of(app, email).await, Some(SubscriberStatus::Active));
    mail
}

/// The never-expiring unsubscribe token of `email`'s current subscription (in `locale`), as
/// every digest carries it.
pub async fn unsubscribe_token(app: &TestApp, email: &str, locale: &str) -> String {
    let s = (app.state.store.subscriber_by_email(email).await.unwrap()).unwrap();
    let l = tidings::subscriptions::links::issue_subscriber_links(
        &app.state.store,
        "http://feeds.example.test",
        &[(s.id, s.generation, locale)],
        tidings::clock::to_ms(app.clock.now()),
    )
    .await
    .unwrap()
    .pop()
    .unwrap();
    super::smtp::token_of(&l.unsubscribe_url)
}
