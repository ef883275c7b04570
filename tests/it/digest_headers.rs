//! The list headers and names of a digest (issue 14): `List-Id` and the mailto unsubscribe
//! address on `mail.list_domain`, else the sender's domain, else (a sender at `localhost`) the
//! site's host, and the mailto then works; schedule and section names in the reader's
//! language, the same in the subject, the body and `List-Id`.

use crate::common;

use std::collections::BTreeMap;

use serde_json::json;
use tidings::{domain::SubscriberStatus, store::SectionTexts};

use crate::{
    common::subscriptions::status_of,
    digest_design::{import, publish, run_daily},
};

/// Sends `raw` to the app's inbound receiver for `rcpt`, as the member's mail server would.
async fn hand_in(app: &common::TestApp, from: &str, rcpt: &str, raw: &str) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
    let addr = app.inbound_addr.expect("[inbound] bind is set");
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .build();
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![rcpt.parse().unwrap()]).unwrap();
    smtp.send_raw(&envelope, raw.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("the receiver refused mail for {rcpt}: {e}"));
}

with_smtp_on_both_backends! {
    async fn a_localhost_sender_gives_list_id_and_mailto_the_sites_host_and_the_mailto_works(app, smtp)
    where |c| { c.inbound.bind = Some("127.0.0.1:0".parse().unwrap()); }
    {
        assert_eq!(app.state.config.mail.from, "青海省总工会 <news@localhost>");
        import(&app, "li.na@example.net,,daily,zh-CN\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a1", "news", "职工技能大赛开幕", json!({})).await;
        let mail = &run_daily(&app, &smtp, &["li.na@example.net"]).await[0];

        assert_eq!(mail.header("List-Id").unwrap(), "每日摘要 <daily.feeds.example.test>");
        let id = mail.header("Message-ID").unwrap();
        assert!(id.starts_with("<digest.") && id.ends_with("@feeds.example.test>"), "{id}");
        let lu = mail.header("List-Unsubscribe").unwrap();
        assert!(!lu.contains("localhost"), "{lu}");
        let mailto = lu.split("<mailto:").nth(1).unwrap().trim_end_matches('>').to_owned();
        let (address, query) = mailto.split_once('?').unwrap();
        assert!(address.starts_with("unsubscribe+") && address.ends_with("@feeds.example.test"), "{address}");

        // What is advertised works: the member's client sends the mailto as it is.
        let subject = query.strip_prefix("subject=").unwrap().replace("%20", " ");
        let request = format!("From: li.na@example.net\r\nTo: {address}\r\nSubject: {subject}\r\n\r\n\r\n");
        hand_in(&app, "li.na@example.net", address, &request).await;
        assert_eq!(status_of(&app, "li.na@example.net").await, Some(SubscriberStatus::Unsubscribed));
    }

    async fn a_configured_list_domain_names_the_list(app, smtp)
    where |c| { c.mail.list_domain = Some("lists.example.org".into()); c.mail.from = "工会 <news@union.example.org>".into(); }
    {
        import(&app, "li.na@example.net,,weekly,en\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a1", "news", "Skills contest opens", json!({})).await;
        let before = smtp.messages().len();
        app.clock.advance(chrono::Duration::minutes(1));
        crate::digest_delivery::wait_done(&app, crate::digest_delivery::run_now(&app, "weekly").await).await;
        let mail = smtp.wait_for(before + 1).await.pop().unwrap();
        assert_eq!(mail.header("List-Id").unwrap(), "Weekly digest <weekly.lists.example.org>");
        // Nothing reads mail sent to tidings here: no mailto is advertised.
        assert!(!mail.header("List-Unsubscribe").unwrap().contains("mailto:"));
    }

    async fn english_mail_uses_the_english_names_and_subject_body_and_list_id_agree(app, smtp) {
        let store = &app.state.store;
        let names = BTreeMap::from([("zh-CN".to_owned(), "职工早报".to_owned()), ("en".to_owned(), "Morning briefing".to_owned())]);
        store.put_schedule_texts("daily", &names).await.unwrap();
        let titles = BTreeMap::from([("zh-CN".to_owned(), "工会要闻".to_owned()), ("en".to_owned(), "Union headlines".to_owned())]);
        store.put_section_texts("news", &SectionTexts { titles, descriptions: BTreeMap::new() }, None, 0).await.unwrap();
        import(&app, "zh@example.com,,daily,zh-CN\nen@example.com,,daily,en\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a1", "news", "职工技能大赛开幕", json!({})).await;
        publish(&app, "n1", "notices", "关于清明节放假的通知", json!({})).await;
        let mails = run_daily(&app, &smtp, &["zh@example.com", "en@example.com"]).await;
        let (zh, en) = (&mails[0], &mails[1]);

        assert_eq!(en.header("Subject").unwrap(), "青海省总工会: Morning briefing (1 Mar 2026)");
        assert_eq!(en.header("List-Id").unwrap(), "Morning briefing <daily.feeds.example.test>");
        let html = en.html();
        assert!(html.contains(">Morning briefing · 1 Mar 2026</p>"), "{html}");
        assert!(html.contains("subscribed to the Morning briefing of 青海省总工会"), "{html}");
        assert!(html.contains(">Union headlines</h2>") && html.contains(" · Union headlines</p>"), "{html}");
        // No English title stored for notices: the strings file's.
        assert!(html.contains(">Notices</h2>") && !html.contains("通知公告"), "{html}");
        assert!(!html.contains("职工早报") && !html.contains("每日摘要"), "{html}");
        assert!(en.text().starts_with("青海省总工会 · Morning briefing · 1 Mar 2026\r\n"), "{}", en.text());
        assert!(en.text().contains("== Union headlines =="));

        assert_eq!(zh.header("Subject").unwrap(), "青海省总工会职工早报（2026年3月1日）");
        assert_eq!(zh.header("List-Id").unwrap(), "职工早报 <daily.feeds.example.test>");
        assert!(zh.html().contains(">职工早报 · 2026年3月1日</p>") && zh.html().contains(">工会要闻</h2>"));
        assert!(zh.text().contains("订阅了青海省总工会的职工早报。"), "{}", zh.text());
    }
}
