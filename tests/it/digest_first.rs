//! A new subscriber's first mail holds the latest articles of their sections (so "run now"
//! right after subscribing is not empty), and the preview says why a mail would be skipped.

use crate::common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

use crate::digest_delivery::{import, publish, run_now, wait_done};
use crate::digest_instant::put_schedule;

/// Subscribes `email` to `sections` through the public form (as JSON) and confirms by the
/// mailed link; `mails` is how many messages the relay holds before.
async fn subscribe(
    app: &TestApp,
    smtp: &common::smtp::SmtpServer,
    email: &str,
    sections: &[&str],
    mails: usize,
) {
    let r = common::subscriptions::subscribe_json(
        app,
        json!({"email": email, "sections": sections, "schedule": "daily"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for(mails + 1).await.pop().unwrap();
    let token = common::smtp::token_of(&mail.link_to("/subscriptions/confirm"));
    let r = app
        .client
        .post(app.url("/subscriptions/confirm"))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// The preview answer of `email` in `locale`: the skip code (if skipped) and the body.
async fn preview(app: &TestApp, email: &str, locale: &str) -> (Option<String>, String) {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/schedules/daily/preview?email={email}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .header("accept-language", locale)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let skipped = r
        .headers()
        .get("x-tidings-skipped")
        .map(|v| v.to_str().unwrap().to_owned());
    (skipped, r.text().await.unwrap())
}

with_smtp_on_both_backends! {
    async fn a_run_right_after_subscribing_mails_the_latest_articles_of_their_sections(app, smtp) {
        for i in 1..=5 {
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, &format!("n{i}"), "news", &format!("要闻{i}号")).await;
        }
        publish(&app, "t1", "notices", "通知一号").await;
        app.clock.advance(chrono::Duration::minutes(1));
        subscribe(&app, &smtp, "new@example.com", &["news"], 0).await;

        let run = wait_done(&app, run_now(&app, "daily").await).await;
        assert_eq!(run["sent"].as_i64(), Some(1), "{run}");
        let mail = smtp.wait_for(2).await.pop().unwrap();
        let html = mail.html();
        for title in ["要闻5号", "要闻4号", "要闻3号"] {
            assert!(html.contains(title), "{title} missing: {html}");
        }
        for title in ["要闻2号", "要闻1号", "通知一号"] {
            assert!(!html.contains(title), "{title} in the first mail");
        }

        // Only the first mail: the next run has nothing new for them.
        app.clock.advance(chrono::Duration::minutes(1));
        let run = wait_done(&app, run_now(&app, "daily").await).await;
        assert_eq!((run["sent"].as_i64(), run["skipped"].as_i64()), (Some(0), Some(1)), "{run}");
    }

    async fn first_digest_articles_zero_leaves_a_first_mail_to_what_is_new(app, smtp) {
        let r = put_schedule(&app, "daily", json!({"name": "每日摘要", "cron": "0 8 * * *", "first_digest_articles": 0})).await;
        assert_eq!(r.status(), StatusCode::OK);
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "n1", "news", "旧闻").await;
        app.clock.advance(chrono::Duration::minutes(1));
        subscribe(&app, &smtp, "new@example.com", &[], 0).await;

        let run = wait_done(&app, run_now(&app, "daily").await).await;
        assert_eq!((run["sent"].as_i64(), run["skipped"].as_i64()), (Some(0), Some(1)), "{run}");
    }
}

on_both_backends! {
    async fn the_preview_says_since_when_nothing_is_new_in_the_readers_language_and_zone(app) {
        import(&app, "reader@example.com,,daily\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "n1", "news", "要闻").await;
        app.clock.advance(chrono::Duration::minutes(1));
        assert_eq!(preview(&app, "reader@example.com", "en").await.0, None);
        // The run's cutoff, 2026-03-01T00:02Z, becomes their watermark: 08:02 in Shanghai.
        wait_done(&app, run_now(&app, "daily").await).await;

        let (skipped, en) = preview(&app, "reader@example.com", "en").await;
        assert_eq!(skipped.as_deref(), Some("nothing_new"));
        assert!(en.contains("nothing new since 2026-03-01 08:02 in their sections"), "{en}");
        let (_, zh) = preview(&app, "reader@example.com", "zh-CN").await;
        assert!(zh.contains("自 2026-03-01 08:02 以来，所选栏目没有新文章"), "{zh}");
        assert!(zh.contains("lang=\"zh-CN\""), "{zh}");
    }

    async fn the_preview_says_when_none_of_the_chosen_sections_exists_any_more(app) {
        import(&app, "about@example.com,about,daily\n").await;
        let r = app.client.delete(app.url("/api/v1/sections/about")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);

        let (skipped, en) = preview(&app, "about%40example.com", "en").await;
        assert_eq!(skipped.as_deref(), Some("no_sections"), "{en}");
        assert!(en.contains("none of the sections they chose exists any more"), "{en}");
    }
}
