//! What comes back after the 250 (SPEC §10), end to end: a digest goes out over SMTP with its
//! VERP envelope sender and unsubscribe mailto; DSNs, complaint reports, mailto unsubscribes
//! and unknown mail come back to the inbound receiver over SMTP; the delivery, the subscriber,
//! the run view and the metrics show what they meant.

use crate::common;

use common::{
    Backend, TestApp,
    smtp::{SmtpServer, spawn_app_with_smtp},
};
use serde_json::Value;

use crate::digest_delivery::{import, publish, run_now, wait_done};

const BOUNCE_DOMAIN: &str = "bounce.example.org";

/// An app mailing into `smtp`, with VERP and the inbound receiver on a free port.
async fn app_with_inbound(
    backend: Backend,
    smtp: &SmtpServer,
    tweak: impl FnOnce(&mut tidings::config::Config),
) -> Option<TestApp> {
    spawn_app_with_smtp(backend, smtp, |c| {
        c.mail.bounce_domain = Some(BOUNCE_DOMAIN.into());
        c.inbound.bind = Some("127.0.0.1:0".parse().unwrap());
        tweak(c);
    })
    .await
}

/// Hands `raw` to tidings as mail for `rcpt`, the way the organisation's MX would.
async fn hand_in(app: &TestApp, rcpt: &str, raw: &str) -> tidings::inbound::Handled {
    app.state
        .inbound
        .process(&tidings::inbound::Inbound {
            recipients: vec![rcpt.to_ascii_lowercase()],
            raw: raw.as_bytes().to_vec(),
            via: tidings::inbound::Via::Smtp,
            peer: None,
        })
        .await
        .unwrap()
}

/// Two active subscribers, one article, one run that mailed both; returns the run id.
async fn one_run(app: &TestApp, smtp: &SmtpServer) -> i64 {
    import(
        app,
        "li.na@example.net,,daily\nwang.fang@example.net,,daily\n",
    )
    .await;
    app.clock.advance(chrono::Duration::minutes(1));
    publish(app, "a1", "news", "职工技能大赛开幕").await;
    app.clock.advance(chrono::Duration::minutes(1));
    let id = run_now(app, "daily").await;
    wait_done(app, id).await;
    smtp.wait_for(2).await;
    id
}

/// The envelope sender the digest to `email` was sent with.
fn envelope_sender(smtp: &SmtpServer, email: &str) -> String {
    smtp.to(email)[0].from.clone()
}

/// An RFC 3464 report about a mail to `recipient`, as Postfix writes one.
fn dsn(to: &str, recipient: &str, status: &str, diagnostic: &str, original: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n\
         To: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\
         \r\n\
         --R\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         This is the mail system at host mx.example.net.\r\n\
         --R\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.example.net\r\n\
         \r\n\
         Final-Recipient: rfc822; {recipient}\r\n\
         Original-Recipient: rfc822;{recipient}\r\n\
         Action: {action}\r\n\
         Status: {status}\r\n\
         Diagnostic-Code: smtp; {diagnostic}\r\n\
         \r\n\
         --R\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         {original}\r\n\
         --R--\r\n",
        action = if status.starts_with('5') {
            "failed"
        } else {
            "delayed"
        },
    )
}

/// An RFC 5965 abuse report carrying the headers of the mail complained about.
fn arf(to: &str, original_headers: &str) -> String {
    format!(
        "From: Feedback Loop <fbl@isp.example.com>\r\n\
         To: {to}\r\n\
         Subject: FW: 工会要闻 每日摘要\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\
         \r\n\
         --F\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This is an email abuse report for an email message received from IP 192.0.2.1.\r\n\
         --F\r\n\
         Content-Type: message/feedback-report\r\n\
         \r\n\
         Feedback-Type: abuse\r\n\
         User-Agent: ExampleFBL/1.0\r\n\
         Version: 1\r\n\
         --F\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         {original_headers}\r\n\
         --F--\r\n"
    )
}

/// The header block of the digest mailed to `email`.
fn original_headers(smtp: &SmtpServer, email: &str) -> String {
    let raw = smtp.to(email)[0].raw.clone();
    raw.split("\r\n\r\n").next().unwrap().to_owned()
}

async fn subscriber(app: &TestApp, email: &str) -> tidings::domain::Subscriber {
    app.state
        .store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap()
}

async fn api(app: &TestApp, path: &str) -> Value {
    app.client
        .get(app.url(path))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

on_both_backends! {
    async fn a_dsn_to_the_verp_address_bounces_that_delivery_and_suppresses_its_subscriber(_app) {
        let smtp = SmtpServer::start();
        let app = app_with_inbound(_app.backend, &smtp, |_| {}).await.unwrap();
        let run = one_run(&app, &smtp).await;

        // Each delivery has its own envelope sender at the bounce domain; From stays mail.from.
        let verp = envelope_sender(&smtp, "li.na@example.net");
        let other = envelope_sender(&smtp, "wang.fang@example.net");
        assert!(verp.starts_with("bounces+") && verp.ends_with(&format!("@{BOUNCE_DOMAIN}")), "{verp}");
        assert_ne!(verp, other, "one VERP address per delivery");
        let mail = &smtp.to("li.na@example.net")[0];
        assert!(mail.header("From").unwrap().contains("news@"), "{:?}", mail.header("From"));
        let lu = mail.header("List-Unsubscribe").unwrap();
        assert!(lu.contains("mailto:unsubscribe+") && lu.contains(BOUNCE_DOMAIN), "{lu}");

        let report = dsn(&verp, "li.na@example.net", "5.1.1",
            "550 5.1.1 <li.na@example.net>: Recipient address rejected: User unknown",
            &original_headers(&smtp, "li.na@example.net"));
        let handled = hand_in(&app, &verp, &report).await;
        assert_eq!(handled.kind, "hard_bounce");
        assert!(handled.applied.suppressed && handled.applied.delivery_changed, "{handled:?}");

        // The run view moves the delivery from sent to bounced, with the DSN's words.
        let view = api(&app, &format!("/api/v1/runs/{run}")).await;
        assert_eq!((view["sent"].as_i64(), view["bounced"].as_i64()), (Some(1), Some(1)), "{view}");
        let bounced = api(&app, &format!("/api/v1/runs/{run}/deliveries?status=bounced")).await;
        let items = bounced["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{bounced}");
        assert_eq!(items[0]["email"], "li.na@example.net");
        assert_eq!(items[0]["dsn_status"], "5.1.1");
        assert!(items[0]["last_reply"].as_str().unwrap().contains("User unknown"), "{bounced}");

        // The subscriber's record says why and when; the other one is untouched.
        let s = subscriber(&app, "li.na@example.net").await;
        assert_eq!(s.status.as_str(), "bounced");
        assert_eq!(s.suppressed_reason.as_deref(), Some("hard_bounce"));
        let listed = api(&app, "/api/v1/subscribers?status=bounced").await;
        assert_eq!(listed["items"][0]["suppressed"]["reason"], "hard_bounce", "{listed}");
        assert_eq!(subscriber(&app, "wang.fang@example.net").await.status.as_str(), "active");
        assert!(metrics(&app).await.contains("tidings_bounces_total{kind=\"hard\"} 1"));

        // The next run does not mail the suppressed address.
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a2", "news", "第二篇").await;
        app.clock.advance(chrono::Duration::minutes(1));
        wait_done(&app, run_now(&app, "daily").await).await;
        smtp.wait_for(3).await;
        assert_eq!(smtp.to("li.na@example.net").len(), 1, "a suppressed address was mailed again");
        assert_eq!(smtp.to("wang.fang@example.net").len(), 2);
    }

    async fn soft_bounces_suppress_only_at_the_configured_count(_app) {
        let smtp = SmtpServer::start();
        let app = app_with_inbound(_app.backend, &smtp, |c| c.inbound.soft_bounce_limit = 2).await.unwrap();
        one_run(&app, &smtp).await;
        let verp = envelope_sender(&smtp, "li.na@example.net");
        let full = dsn(&verp, "li.na@example.net", "4.2.2", "452 4.2.2 Mailbox full", "");

        let first = hand_in(&app, &verp, &full).await;
        assert_eq!(first.kind, "soft_bounce");
        assert!(!first.applied.suppressed);
        let s = subscriber(&app, "li.na@example.net").await;
        assert_eq!(s.status.as_str(), "active", "one soft bounce suppressed");

        let second = hand_in(&app, &verp, &full).await;
        assert!(second.applied.suppressed, "{second:?}");
        let s = subscriber(&app, "li.na@example.net").await;
        assert_eq!((s.status.as_str(), s.suppressed_reason.as_deref()), ("bounced", Some("soft_bounces")));
        // A soft bounce does not turn the accepted delivery into a bounce.
        let run = api(&app, "/api/v1/runs").await["items"][0]["id"].as_i64().unwrap();
        assert_eq!(api(&app, &format!("/api/v1/runs/{run}")).await["bounced"], 0);
        assert!(metrics(&app).await.contains("tidings_bounces_total{kind=\"soft\"} 2"));
    }

    async fn soft_bounces_older_than_the_window_do_not_count(_app) {
        let smtp = SmtpServer::start();
        let app = app_with_inbound(_app.backend, &smtp, |c| {
            c.inbound.soft_bounce_limit = 2;
            c.inbound.soft_bounce_days = 7;
        }).await.unwrap();
        one_run(&app, &smtp).await;
        let verp = envelope_sender(&smtp, "li.na@example.net");
        let full = dsn(&verp, "li.na@example.net", "4.2.2", "452 4.2.2 Mailbox full", "");
        hand_in(&app, &verp, &full).await;
        app.clock.advance(chrono::Duration::days(8));
        let later = hand_in(&app, &verp, &full).await;
        assert!(!later.applied.suppressed, "a bounce from 8 days ago counted in a 7-day window");
        assert_eq!(subscriber(&app, "li.na@example.net").await.status.as_str(), "active");
    }

    async fn a_complaint_report_unsubscribes_and_suppresses_the_person_it_is_about(_app) {
        let smtp = SmtpServer::start();
        let app = app_with_inbound(_app.backend, &smtp, |_| {}).await.unwrap();
        one_run(&app, &smtp).await;
        // Feedback loops write to a fixed address; the person is found from the returned
        // headers (the List-Unsubscribe mailto carries their token).
        let report = arf(&format!("bounces@{BOUNCE_DOMAIN}"), &original_headers(&smtp, "wang.fang@example.net"));
        let handled = hand_in(&app, &format!("bounces@{BOUNCE_DOMAIN}"), &report).await;
        assert_eq!(handled.kind, "complaint");
        let s = subscriber(&app, "wang.fang@example.net").await;
        assert_eq!((s.status.as_str(), s.suppressed_reason.as_deref()), ("unsubscribed", Some("complaint")));
        assert_eq!(subscriber(&app, "li.na@example.net").await.status.as_str(), "active");
        assert!(metrics(&app).await.contains("tidings_complaints_total 1"));
    }

    async fn a_mailto_unsubscribe_unsubscribes_and_a_forged_token_changes_nothing(_app) {
        let smtp = SmtpServer::start();
        let app = app_with_inbound(_app.backend, &smtp, |_| {}).await.unwrap();
        one_run(&app, &smtp).await;
        let lu = smtp.to("li.na@example.net")[0].header("List-Unsubscribe").unwrap();
        let mailto = lu.split("<mailto:").nth(1).unwrap().trim_end_matches('>').to_owned();
        let (address, query) = mailto.split_once('?').unwrap();
        let subject = query.strip_prefix("subject=").unwrap().replace("%20", " ");

        // Forged: the same shape with another MAC, for the other subscriber.
        let (prefix, _) = address.rsplit_once('-').unwrap();
        let forged_address = format!("{prefix}-00000000000000000000@{BOUNCE_DOMAIN}");
        let forged = format!("From: someone@example.net\r\nTo: {forged_address}\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n");
        let handled = hand_in(&app, &forged_address, &forged).await;
        assert_eq!(handled.kind, "forged");
        assert_eq!(subscriber(&app, "li.na@example.net").await.status.as_str(), "active");
        let kept = app.state.store.inbound_kept(10).await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].2, forged.as_bytes(), "the forged mail is kept as received");

        // The member's client sends the mailto as it is.
        let request = format!("From: li.na@example.net\r\nTo: {address}\r\nSubject: {subject}\r\n\r\n\r\n");
        let handled = hand_in(&app, address, &request).await;
        assert_eq!(handled.kind, "unsubscribe");
        assert!(handled.applied.unsubscribed);
        let s = subscriber(&app, "li.na@example.net").await;
        assert_eq!(s.status.as_str(), "unsubscribed");
        assert!(s.suppressed_reason.is_none(), "an unsubscribe is not a suppression");
        assert!(s.unsubscribed_at.is_some());

        // A mailbox that drops the +token still has the token in the subject.
        let lu = smtp.to("wang.fang@example.net")[0].header("List-Unsubscribe").unwrap();
        let subject = lu.split("subject=").nth(1).unwrap().trim_end_matches('>').replace("%20", " ");
        let plain = format!("unsubscribe@{BOUNCE_DOMAIN}");
        let request = format!("From: wang.fang@example.net\r\nTo: {plain}\r\nSubject: {subject}\r\n\r\n\r\n");
        assert_eq!(hand_in(&app, &plain, &request).await.kind, "unsubscribe");
        assert_eq!(subscriber(&app, "wang.fang@example.net").await.status.as_str(), "unsubscribed");
    }

    async fn a_providers_own_bounce_words_bounce_the_delivery_and_unknown_mail_is_kept(_app) {
        let smtp = SmtpServer::start();
        let app = app_with_inbound(_app.backend, &smtp, |_| {}).await.unwrap();
        one_run(&app, &smtp).await;
        let verp = envelope_sender(&smtp, "li.na@example.net");
        let qq = format!(
            "From: PostMaster@qq.com\r\nTo: {verp}\r\nSubject: =?UTF-8?B?6YCA5L+h?=\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             很抱歉您发送的邮件被退回，以下是该邮件的相关信息：\r\n\
             收件人：li.na@example.net\r\n\
             退信原因：收件人邮箱地址不存在或已被冻结。\r\n\
             详细原因：550 Mailbox not found or access denied\r\n");
        let handled = hand_in(&app, &verp, &qq).await;
        assert_eq!(handled.kind, "hard_bounce", "{handled:?}");
        assert_eq!(subscriber(&app, "li.na@example.net").await.status.as_str(), "bounced");

        // An out-of-office answer to the VERP address is not a bounce.
        let other = envelope_sender(&smtp, "wang.fang@example.net");
        let away = format!("From: wang.fang@example.net\r\nTo: {other}\r\nSubject: 自动回复: 每日摘要\r\nAuto-Submitted: auto-replied\r\n\r\n我在休假，12 月 5 日回来。\r\n");
        assert_eq!(hand_in(&app, &other, &away).await.kind, "auto_reply");
        assert_eq!(subscriber(&app, "wang.fang@example.net").await.status.as_str(), "active");

        // Mail nobody can read is kept (bounded), counted, and changes nothing.
        let note = format!("From: friend@example.com\r\nTo: bounces@{BOUNCE_DOMAIN}\r\nSubject: hello\r\n\r\nwho reads this?\r\n");
        assert_eq!(hand_in(&app, &format!("bounces@{BOUNCE_DOMAIN}"), &note).await.kind, "unrecognised");
        let garbage = "\u{0}\u{1}not a message at all";
        let handled = hand_in(&app, &format!("bounces@{BOUNCE_DOMAIN}"), garbage).await;
        assert_eq!(handled.kind, "unrecognised");
        let kept = app.state.store.inbound_kept(10).await.unwrap();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(metrics(&app).await.contains("tidings_inbound_messages_total{kind=\"unrecognised\"} 2"));

        // Kept mail goes after inbound.unrecognised_days.
        app.clock.advance(chrono::Duration::days(31));
        let pruned = app.state.store.prune_inbound(tidings::clock::to_ms(app.clock.now()) - 30 * 86_400_000).await.unwrap();
        assert_eq!(pruned, 2);
        assert!(app.state.store.inbound_kept(10).await.unwrap().is_empty());
    }

    async fn a_dsn_with_a_forged_verp_token_changes_nothing(_app) {
        let smtp = SmtpServer::start();
        let app = app_with_inbound(_app.backend, &smtp, |_| {}).await.unwrap();
        let run = one_run(&app, &smtp).await;
        let verp = envelope_sender(&smtp, "li.na@example.net");
        let (prefix, _) = verp.rsplit_once('-').unwrap();
        let forged = format!("{prefix}-ffffffffffffffffffff@{BOUNCE_DOMAIN}");
        let report = dsn(&forged, "li.na@example.net", "5.1.1", "550 5.1.1 User unknown", "");
        assert_eq!(hand_in(&app, &forged, &report).await.kind, "forged");
        assert_eq!(subscriber(&app, "li.na@example.net").await.status.as_str(), "active");
        assert_eq!(api(&app, &format!("/api/v1/runs/{run}")).await["bounced"], 0);
    }

    async fn without_inbound_mail_there_is_no_mailto_and_no_verp(_app) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
        one_run(&app, &smtp).await;
        let mail = &smtp.to("li.na@example.net")[0];
        assert!(!mail.header("List-Unsubscribe").unwrap().contains("mailto:"));
        assert!(!mail.from.starts_with("bounces+"), "{}", mail.from);
    }
}
