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
