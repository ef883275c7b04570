//! Subscribing again right after unsubscribing (issue 14): the unsubscribe page offers a
//! button that brings the subscription back as it was, proven by the link's token alone;
//! not for people suppressed after a complaint or bounce, nor by a link of an earlier
//! subscription, and never on a GET.

use crate::common;

use common::subscriptions::{status_of, subscribe_and_confirm, subscribe_form};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use tidings::{
    clock::to_ms,
    domain::SubscriberStatus,
    store::{Effect, InboundEvent},
};

const LI: &str = "li.lei@example.org";

/// A never-expiring token for `email`'s current subscription, as every digest carries.
async fn unsubscribe_token(app: &common::TestApp, email: &str) -> String {
    common::subscriptions::unsubscribe_token(app, email, "en").await
}

/// The hidden fields of the form posting to `action` on `html`, if there is one.
fn form_fields(html: &str, action: &str) -> Option<Vec<(String, String)>> {
    let page = Html::parse_document(html);
    let form = page
        .select(&Selector::parse(&format!("form[method=post][action=\"{action}\"]")).unwrap())
        .next()?;
    Some(
        form.select(&Selector::parse("input[type=hidden]").unwrap())
            .map(|i| {
                (
                    i.attr("name").unwrap().to_owned(),
                    i.attr("value").unwrap().to_owned(),
                )
            })
            .collect(),
    )
}

async fn unsubscribe(app: &common::TestApp, token: &str) -> String {
    let r = app
        .client
        .post(app.url(&format!("/unsubscribe?token={token}")))
        .form(&[("locale", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

with_smtp_on_both_backends! {
    async fn one_click_on_the_unsubscribe_page_brings_the_subscription_back_as_it_was(app, smtp) {
        let sent = subscribe_form(&app, &[("email", LI), ("sections", "news"), ("sections", "notices"), ("schedule", "weekly"), ("locale", "en")]).await;
        assert_eq!(sent.status(), StatusCode::OK);
        let link = smtp.wait_for(1).await.pop().unwrap().link_to("/subscriptions/confirm");
        let confirmed = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", common::smtp::token_of(&link))]).send().await.unwrap();
        assert_eq!(confirmed.status(), StatusCode::OK);
        let token = unsubscribe_token(&app, LI).await;

        let page = unsubscribe(&app, &token).await;
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));
        assert!(page.contains("Unsubscribed by mistake?"), "{page}");
        let fields = form_fields(&page, "/subscriptions/resubscribe").expect("a subscribe-again button");
        assert!(fields.contains(&("token".to_owned(), token.clone())));

        // The page behind it, fetched as a mail scanner would, changes nothing.
        let shown = app.client.get(app.url(&format!("/subscriptions/resubscribe?token={token}"))).send().await.unwrap();
        assert_eq!(shown.status(), StatusCode::OK);
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));

        let back = app.client.post(app.url("/subscriptions/resubscribe")).form(&fields).send().await.unwrap();
        assert_eq!(back.status(), StatusCode::OK);
        let html = back.text().await.unwrap();
        assert!(html.contains("You are subscribed again"), "{html}");
        assert!(html.to_lowercase().contains("weekly digest, union news, notices"), "{html}");
        let s = app.state.store.subscriber_by_email(LI).await.unwrap().unwrap();
        assert_eq!(s.status, SubscriberStatus::Active);
        assert_eq!((s.sections, s.schedule.as_str(), s.locale.as_str()), (vec!["news".to_owned(), "notices".to_owned()], "weekly", "en"));
        assert_eq!(smtp.messages().len(), 1, "the token proved the address: no confirmation mail");

        // Pressing again is harmless, and the unsubscribe link still works afterwards.
        let again = app.client.post(app.url("/subscriptions/resubscribe")).form(&fields).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        unsubscribe(&app, &token).await;
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));
    }

    async fn a_person_back_after_an_absence_gets_a_first_mail_not_everything_missed(app, smtp) {
        use crate::digest_design::{import, publish, run_daily};
        import(&app, "li.lei@example.org,,daily,zh-CN\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "before", "news", "离开前的要闻", serde_json::json!({})).await;
        run_daily(&app, &smtp, &[LI]).await;
        let token = unsubscribe_token(&app, LI).await;
        unsubscribe(&app, &token).await;
        // Six articles while they were away, then they come back with one click.
        for i in 1..=6 {
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, &format!("away{i}"), "news", &format!("离开期间的要闻{i}号"), serde_json::json!({})).await;
        }
        app.clock.advance(chrono::Duration::minutes(1));
        let back = app.client.post(app.url("/subscriptions/resubscribe")).form(&[("token", token.as_str())]).send().await.unwrap();
        assert_eq!(back.status(), StatusCode::OK);

        let mail = run_daily(&app, &smtp, &[LI]).await.pop().unwrap();
        let html = mail.html();
        let held: Vec<u32> = (1..=6).filter(|i| html.contains(&format!("离开期间的要闻{i}号"))).collect();
        // As a new subscriber: the schedule's first_digest_articles (3) latest, not all six.
        assert_eq!(held, [4, 5, 6], "{html}");
        assert!(!html.contains("离开前的要闻"));
    }

    async fn a_person_suppressed_after_a_complaint_must_confirm_by_mail_instead(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let token = unsubscribe_token(&app, LI).await;
        let s = app.state.store.subscriber_by_email(LI).await.unwrap().unwrap();
        let complaint = InboundEvent {
            received_at: to_ms(app.clock.now()),
            via: "smtp".into(),
            kind: "complaint".into(),
            subscriber_id: Some(s.id),
            delivery_id: None,
            status: None,
            detail: Some("abuse".into()),
            raw: None,
        };
        app.state.store.record_inbound(&complaint, Effect::Complaint, 10).await.unwrap();
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));

        let page = app.client.get(app.url(&format!("/unsubscribe?token={token}&locale=en"))).send().await.unwrap().text().await.unwrap();
        assert!(form_fields(&page, "/subscriptions/resubscribe").is_none(), "no button for them: {page}");
        assert!(page.contains("fill in the subscription form"), "{page}");
        let pressed = app.client.post(app.url("/subscriptions/resubscribe")).form(&[("token", token.as_str()), ("locale", "en")]).send().await.unwrap();
        assert_eq!(pressed.status(), StatusCode::CONFLICT);
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Unsubscribed));
        let json = app.client.post(app.url("/subscriptions/resubscribe")).header("accept", "application/json").form(&[("token", token.as_str())]).send().await.unwrap();
        assert_eq!(json.status(), StatusCode::CONFLICT);
        assert_eq!(json.json::<serde_json::Value>().await.unwrap()["field"], "token");
    }

    async fn a_link_of_an_earlier_subscription_cannot_bring_it_back(app, smtp) {
        subscribe_and_confirm(&app, &smtp, LI).await;
        let old = unsubscribe_token(&app, LI).await;
        unsubscribe(&app, &old).await;
        // A sign-up through the form starts a new subscription (pending, next generation).
        app.clock.advance(chrono::Duration::minutes(11));
        subscribe_form(&app, &[("email", LI)]).await;
        smtp.wait_for(2).await;
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Pending));
        let pressed = app.client.post(app.url("/subscriptions/resubscribe")).form(&[("token", old.as_str())]).send().await.unwrap();
        assert_eq!(pressed.status(), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&app, LI).await, Some(SubscriberStatus::Pending));
    }
}
