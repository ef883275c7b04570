//! "Switching language never breaks a page" (SPEC §5, issue 14): on every kind of
//! subscription page, the "English" / "中文" link leads to a working page in the other
//! language, and that page's link leads back; pages behind a mailed link keep their token,
//! and the answer to a POST switches to the GET that shows the state it left.

use crate::common;

use chrono::Duration as Span;
use common::smtp::{local, token_of};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use tidings::{clock::to_ms, subscriptions::links};

const LI: &str = "li.lei@example.org";

fn attr(html: &str, css: &str, name: &str) -> Option<String> {
    Html::parse_document(html)
        .select(&Selector::parse(css).unwrap())
        .next()
        .and_then(|e| e.attr(name))
        .map(str::to_owned)
}

fn lang(html: &str) -> String {
    attr(html, "html", "lang").expect("<html lang>")
}

/// Follows the switch of `html` (a page in `from`) and the switch of the page it leads to;
/// both must answer `status` (the page's own), the first in the other language, the second
/// in `from` again. A browser preferring `from` asks, so the link itself must choose.
async fn switch_both_ways(
    app: &common::TestApp,
    what: &str,
    html: &str,
    from: &str,
    status: StatusCode,
) {
    assert_eq!(lang(html), from, "{what}: {html}");
    let to = if from == "en" { "zh-CN" } else { "en" };
    let mut here = html.to_owned();
    for want in [to, from] {
        let href = attr(&here, "header a[hreflang]", "href")
            .unwrap_or_else(|| panic!("{what}: no switch"));
        let asked = if want == "en" { "zh-CN" } else { "en" };
        let r = app
            .client
            .get(app.url(&href))
            .header("accept-language", asked)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{what}: {href}");
        here = r.text().await.unwrap();
        assert_eq!(lang(&here), want, "{what}: {href}: {here}");
    }
}

async fn post(app: &common::TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let r = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn page(app: &common::TestApp, path: &str) -> (StatusCode, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

with_smtp_on_both_backends! {
    async fn every_language_switch_leads_to_a_working_page_in_the_other_language_and_back(app, smtp) {
        for from in ["zh-CN", "en"] {
            let (s, form) = page(&app, &format!("/subscribe?locale={from}")).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "subscribe form", &form, from, StatusCode::OK).await;

            let (s, wrong) = post(&app, "/subscribe", &[("email", "not an address"), ("locale", from)]).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
            let href = attr(&wrong, "header a[hreflang]", "href").unwrap();
            assert_eq!(page(&app, &href).await.0, StatusCode::OK, "form with errors: {href}");

            let email = format!("{from}.{LI}");
            let before = smtp.messages().len();
            let (s, sent) = post(&app, "/subscribe", &[("email", &email), ("locale", from)]).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "check your inbox", &sent, from, StatusCode::OK).await;

            let mail = smtp.wait_for(before + 1).await.pop().unwrap();
            let link = mail.link_to("/subscriptions/confirm");
            let token = token_of(&link);
            let (s, confirm) = page(&app, &format!("/subscriptions/confirm?token={token}&locale={from}")).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "confirm button", &confirm, from, StatusCode::OK).await;

            let (s, confirmed) = post(&app, "/subscriptions/confirm", &[("token", &token), ("locale", from)]).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "confirmed", &confirmed, from, StatusCode::OK).await;
            let (_, again) = post(&app, "/subscriptions/confirm", &[("token", &token), ("locale", from)]).await;
            switch_both_ways(&app, "already confirmed", &again, from, StatusCode::OK).await;

            let s = app.state.store.subscriber_by_email(&email).await.unwrap().unwrap();
            let l = links::issue_subscriber_links(&app.state.store, "http://feeds.example.test", &[(s.id, s.generation, from)], to_ms(app.clock.now())).await.unwrap().pop().unwrap();
            let manage_token = token_of(&l.manage_url);
            let (s, manage) = page(&app, &format!("/subscriptions/manage?token={manage_token}&locale={from}")).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "manage", &manage, from, StatusCode::OK).await;
            let (s, saved) = post(&app, "/subscriptions/manage", &[("token", &manage_token), ("sections", "news"), ("schedule", "weekly"), ("locale", from)]).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "manage saved", &saved, from, StatusCode::OK).await;

            let (s, question) = page(&app, &format!("/unsubscribe?token={manage_token}&locale={from}")).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "unsubscribe question", &question, from, StatusCode::OK).await;
            let (s, gone) = post(&app, &format!("/unsubscribe?token={manage_token}"), &[("locale", from)]).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "unsubscribed", &gone, from, StatusCode::OK).await;
            let (s, offer) = page(&app, &format!("/subscriptions/resubscribe?token={manage_token}&locale={from}")).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "resubscribe offer", &offer, from, StatusCode::OK).await;
            let (s, back) = post(&app, "/subscriptions/resubscribe", &[("token", &manage_token), ("locale", from)]).await;
            assert_eq!(s, StatusCode::OK);
            switch_both_ways(&app, "subscribed again", &back, from, StatusCode::OK).await;

            // A link that leads nowhere stays the same answer in the other language.
            let (s, invalid) = page(&app, &format!("/unsubscribe?token={}&locale={from}", "A".repeat(43))).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
            switch_both_ways(&app, "unknown link", &invalid, from, StatusCode::NOT_FOUND).await;
        }
    }

    async fn the_expired_link_page_and_its_new_mail_switch_language_too(app, smtp) {
        let (_, _) = post(&app, "/subscribe", &[("email", LI), ("locale", "zh-CN")]).await;
        let link = smtp.wait_for(1).await.pop().unwrap().link_to("/subscriptions/confirm");
        app.clock.advance(Span::hours(49));
        let r = app.client.get(local(&app, &link)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::GONE);
        let expired = r.text().await.unwrap();
        // The page says the link expired, and says so in the other language too.
        switch_both_ways(&app, "expired link", &expired, "zh-CN", StatusCode::GONE).await;
        let (s, resent) = post(&app, "/subscriptions/resend", &[("token", &token_of(&link)), ("locale", "zh-CN")]).await;
        assert_eq!(s, StatusCode::OK);
        switch_both_ways(&app, "new mail sent", &resent, "zh-CN", StatusCode::OK).await;
    }
}
