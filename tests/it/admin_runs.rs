//! Console: the runs list, a run's page (figures, progress, the deliveries that failed with
//! the SMTP reply, escaped) and retrying failed deliveries.

use crate::admin_schedules::{ADMIN, EDITOR, audits, wait_finished};
use crate::common::{
    self, Backend,
    admin::signed_in,
    fault_smtp::{FaultSmtp, Faults},
};
use crate::digest_delivery::{import, publish};

use reqwest::StatusCode;
use tidings::domain::{AuditKind, Role};

/// An app mailing through `smtp`, giving up on a delivery after its first temporary failure.
async fn app_with(backend: Backend, smtp: &FaultSmtp) -> Option<common::TestApp> {
    let url = smtp.url();
    common::spawn_app_with(backend, |c| {
        c.mail.transport = tidings::config::MailTransport::Smtp;
        c.mail.smtp_url = Some(url);
        c.mail.timeout = Some("3s".into());
        c.mail.rate_per_second = 1000;
        c.digests.max_attempts = 1;
    })
    .await
}

fn run_id(location: &str) -> i64 {
    location
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

on_both_backends! {
    async fn failed_deliveries_show_their_reply_escaped_and_a_retry_sends_each_exactly_once(_app) {
        let smtp = FaultSmtp::start(Faults {
            rcpt_replies: [
                ("later@example.com".to_owned(), "451 4.3.0 try later".to_owned()),
                ("gone@example.com".to_owned(), "550 5.1.1 <script>alert(1)</script> no such user".to_owned()),
            ]
            .into(),
            ..Faults::default()
        })
        .await;
        let app = app_with(_app.backend, &smtp).await.unwrap();
        import(&app, "ok@example.com,,daily\nlater@example.com,,daily\ngone@example.com,,daily\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "n1", "news", "要闻一").await;
        app.clock.advance(chrono::Duration::minutes(1));
        let admin = signed_in(&app, ADMIN, Role::Admin).await;

        let r = admin.post("/admin/schedules/daily/run", "/admin/schedules/daily/run", &[]).await;
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let id = run_id(&location);
        let v = wait_finished(&admin, id).await;
        assert_eq!((v["sent"].as_i64(), v["failed"].as_i64(), v["bounced"].as_i64(), v["status"].as_str()),
            (Some(1), Some(1), Some(1), Some("done_with_failures")), "{v}");

        let page = admin.page(&location, StatusCode::OK).await;
        assert!(page.contains("later@example.com") && page.contains("(451): 4.3.0 try later"), "{page}");
        assert!(page.contains("/admin/runs/{id}/retry".replace("{id}", &id.to_string()).as_str()));
        let bounced = admin.page(&format!("/admin/runs/{id}?status=bounced"), StatusCode::OK).await;
        assert!(bounced.contains("gone@example.com"));
        assert!(bounced.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{bounced}");
        assert!(!bounced.contains("<script>alert(1)"), "an SMTP reply is text, not markup");

        let list = admin.page("/admin/runs?schedule=daily", StatusCode::OK).await;
        assert!(list.contains(&format!("href=\"/admin/runs/{id}\"")) && list.contains("已完成，有失败"), "{list}");
        let other = admin.page("/admin/runs?schedule=weekly", StatusCode::OK).await;
        assert!(!other.contains(&format!("href=\"/admin/runs/{id}\"")), "filtered by schedule");

        // The relay works again; the admin asks, then retries.
        smtp.set_faults(Faults::default());
        let confirm = admin.page(&format!("/admin/runs/{id}/retry"), StatusCode::OK).await;
        assert!(confirm.contains("1 封失败的邮件会重新排队"), "{confirm}");
        assert_eq!(smtp.count_to("later@example.com"), 0);
        let r = admin.post(&format!("/admin/runs/{id}/retry"), &format!("/admin/runs/{id}/retry"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], format!("/admin/runs/{id}?retried=1").as_str());
        let v = wait_finished(&admin, id).await;
        assert_eq!((v["sent"].as_i64(), v["failed"].as_i64(), v["bounced"].as_i64(), v["status"].as_str()),
            (Some(2), Some(0), Some(1), Some("done")), "{v}");
        assert_eq!(smtp.count_to("later@example.com"), 1, "the failed one, once");
        assert_eq!(smtp.count_to("ok@example.com"), 1, "the sent one is not sent again");
        assert_eq!(smtp.count_to("gone@example.com"), 0, "the bounced one is not retried");

        // A second retry finds nothing to do and records nothing.
        let r = admin.post(&format!("/admin/runs/{id}/retry"), &format!("/admin/runs/{id}/retry"), &[]).await;
        assert_eq!(r.headers()["location"], format!("/admin/runs/{id}?retried=0").as_str());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(smtp.count_to("later@example.com") + smtp.count_to("ok@example.com"), 2);
        let retried = audits(&app, AuditKind::RunRetry).await;
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0].1, format!("run {id} of daily"));
    }

    async fn the_run_page_and_its_progress_route_are_for_admins_only(app) {
        let admin = signed_in(&app, ADMIN, Role::Admin).await;
        let editor = signed_in(&app, EDITOR, Role::Editor).await;
        let r = admin.post("/admin/schedules/daily/run", "/admin/schedules/daily/run", &[]).await;
        let id = run_id(r.headers()["location"].to_str().unwrap());
        let v = wait_finished(&admin, id).await;
        assert_eq!((v["total"].as_i64(), v["status"].as_str()), (Some(0), Some("done")), "{v}");
        let page = admin.page(&format!("/admin/runs/{id}?locale=en"), StatusCode::OK).await;
        assert!(page.contains("Run #") && page.contains("<progress"));
        let r = admin.get(&format!("/admin/runs/{id}")).await;
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        let js = admin.get("/admin/assets/console.js").await;
        assert_eq!(js.status(), StatusCode::OK);
        assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));

        for path in ["/admin/runs".to_owned(), format!("/admin/runs/{id}"), format!("/admin/runs/{id}/progress"), format!("/admin/runs/{id}/retry")] {
            assert_eq!(editor.get(&path).await.status(), StatusCode::FORBIDDEN, "GET {path}");
        }
        let csrf = editor.csrf("/admin").await;
        let r = editor.post_raw(&format!("/admin/runs/{id}/retry"), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(admin.get("/admin/runs/999999").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(admin.get("/admin/runs/x").await.status(), StatusCode::NOT_FOUND);
    }
}

/// The schedules and runs pages in a real browser (headless Chromium): each page saved at
/// 1280 and 390 px in zh-CN and en, and a run's page following the run live, without a
/// reload, from in progress to done.
mod browser {
    use super::*;
    use crate::subscriptions_browser::start_chromedriver;

    use std::{net::TcpListener, time::Duration};

    use crate::common::browser::{click, fill, shoot, text, wait_css};
    use fantoccini::Locator;

    /// (run done, run in progress) in the page's language.
    fn words(locale: &str) -> (&'static str, &'static str) {
        if locale == "en" {
            ("done", "running")
        } else {
            ("已完成", "发送中")
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn schedules_and_a_live_run_in_a_real_browser() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let smtp = FaultSmtp::start(Faults::default()).await;
        let url = smtp.url();
        let app = common::spawn_app_with(Backend::Sqlite, |c| {
            c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
            c.site.base_url = base.clone();
            c.mail.transport = tidings::config::MailTransport::Smtp;
            c.mail.smtp_url = Some(url);
            c.mail.timeout = Some("60s".into());
            c.mail.rate_per_second = 1000;
        })
        .await
        .unwrap();
        import(&app, "wang.fang@example.org,,daily\nli.na@example.org,news,daily\nzhao.min@example.org,notices,weekly\n").await;
        // A schedule in a zone that moves its clocks within the next five sends.
        let r = app
            .client
            .put(app.url("/api/v1/schedules/ny-weekly"))
            .bearer_auth(common::ADMIN_TOKEN)
            .json(&serde_json::json!({"name": "New York weekly", "cron": "0 9 * * 0", "timezone": "America/New_York"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());

        let (_driver, webdriver) = start_chromedriver().await;
        for locale in ["zh-CN", "en"] {
            let (done, running) = words(locale);
            app.clock.advance(chrono::Duration::minutes(1));
            publish(
                &app,
                &format!("a-{locale}"),
                "news",
                "省总工会召开“职工之家”建设推进会 <现场>",
            )
            .await;
            publish(
                &app,
                &format!("b-{locale}"),
                "notices",
                "关于做好 2026 年春节期间困难职工帮扶工作的通知",
            )
            .await;
            app.clock.advance(chrono::Duration::minutes(1));

            let (client, _profile) = crate::common::browser::open(&webdriver, locale).await;
            let email = format!("admin.{locale}@example.org").to_lowercase();
            let link = tidings::admin::cli::add(
                &app.state.store,
                &app.state.config,
                &email,
                Role::Admin,
                app.clock.now(),
            )
            .await
            .unwrap();
            client
                .goto(&format!("{link}&locale={locale}"))
                .await
                .unwrap();
            fill(&client, "password", common::admin::PASSWORD).await;
            fill(&client, "repeat", common::admin::PASSWORD).await;
            click(&client, "button[type=submit].primary").await;
            wait_css(&client, "#email").await;
            fill(&client, "email", &email).await;
            fill(&client, "password", common::admin::PASSWORD).await;
            click(&client, "button[type=submit].primary").await;
            wait_css(&client, "nav a[aria-current=page]").await;

            client
                .goto(&format!("{base}/admin/schedules"))
                .await
                .unwrap();
            wait_css(&client, "#s-ny-weekly").await;
            let html = client.source().await.unwrap();
            assert!(
                html.contains("2026-03-08 09:00") && html.contains("tag dst"),
                "the DST day is marked"
            );
            shoot(&client, locale, "20-schedules").await;

            client
                .goto(&format!("{base}/admin/schedules/new"))
                .await
                .unwrap();
            fill(&client, "f-slug", "Morning News").await;
            fill(&client, "f-name", "早间要闻").await;
            fill(&client, "f-cron", "0 25 * * *").await;
            click(&client, "form.stack button.primary").await;
            wait_css(&client, "#f-cron-error").await;
            assert_eq!(
                client
                    .find(Locator::Id("f-cron"))
                    .await
                    .unwrap()
                    .prop("value")
                    .await
                    .unwrap()
                    .as_deref(),
                Some("0 25 * * *")
            );
            shoot(&client, locale, "21-schedule-form-error").await;

            client
                .goto(&format!(
                    "{base}/admin/schedules/daily/preview?email=wang.fang%40example.org"
                ))
                .await
                .unwrap();
            wait_css(&client, ".mail-frame iframe").await;
            tokio::time::sleep(Duration::from_millis(800)).await;
            shoot(&client, locale, "22-preview").await;

            client
                .goto(&format!("{base}/admin/schedules/daily/run"))
                .await
                .unwrap();
            wait_css(&client, ".confirm form button").await;
            assert!(text(&client, ".confirm-lead").await.contains('2'));
            shoot(&client, locale, "23-run-now-confirm").await;

            // The relay holds every reply to the final ".": the run stays in progress.
            smtp.set_faults(Faults {
                hold_dot_replies: true,
                ..Faults::default()
            });
            click(&client, ".confirm form button").await;
            wait_css(&client, "[data-run-status]").await;
            assert_eq!(text(&client, "[data-run-status]").await, running);
            client
                .execute("window.tidingsMarker = 'still here'; return null;", vec![])
                .await
                .unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while smtp.messages().len() < 2 * if locale == "en" { 2 } else { 1 } {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the run's mails did not reach the relay"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            shoot(&client, locale, "24-run-in-progress").await;

            // The relay answers: the page follows the run to its end by itself.
            smtp.set_faults(Faults::default());
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                if text(&client, "[data-run-status]").await == done {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the page did not follow the run to its end"
                );
                app.state.digests.wakeup.notify_waiters();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let marker = client
                .execute("return window.tidingsMarker || null;", vec![])
                .await
                .unwrap();
            assert_eq!(
                marker,
                serde_json::json!("still here"),
                "updated without a reload"
            );
            assert_eq!(text(&client, ".fig-sent .n").await, "2");
            let bar = client.find(Locator::Id("run-progress")).await.unwrap();
            assert_eq!(bar.attr("value").await.unwrap().as_deref(), Some("2"));
            shoot(&client, locale, "25-run-done").await;
            client.close().await.unwrap();
        }
    }
}
