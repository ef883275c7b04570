//! Console: the schedules page (readings, next sends with DST days marked, the form and its
//! errors, enable/disable, delete, run now) and digest previews and test sends.

use crate::common::{
    self,
    admin::{Console, signed_in},
    smtp::{SmtpServer, spawn_app_with_smtp},
};
use crate::digest_delivery::{import, publish};

use std::time::Duration;

use reqwest::StatusCode;
use tidings::domain::{AuditKind, Role};

pub(crate) const ADMIN: &str = "li.lei@example.org";
pub(crate) const EDITOR: &str = "bian.ji@example.org";

/// The audit entries of `kind`, newest first, as `(actor, target, after)`.
pub(crate) async fn audits(
    app: &common::TestApp,
    kind: AuditKind,
) -> Vec<(String, String, Option<String>)> {
    app.state
        .store
        .audit_entries(None, Some(kind), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.target, e.after))
        .collect()
}

/// The `<section>` of the page about schedule `slug`.
fn section<'a>(html: &'a str, slug: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"s-{slug}\""))
        .unwrap_or_else(|| panic!("no schedule {slug} on {html}"));
    let end = html[start..]
        .find("</section>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// The rows of the next-sends table of a section: `(local, offset, utc, dst marked)`.
fn fires(section: &str) -> Vec<(String, String, String, bool)> {
    let body = &section[section.find("<tbody>").expect("a table")..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let text = |after: &str, open: &str| {
                let at = row.find(after).unwrap() + after.len();
                let rest = &row[at..];
                let rest = &rest[rest.find(open).unwrap() + open.len()..];
                rest[..rest.find('<').unwrap()].trim().to_owned()
            };
            (
                text("<td>", "<span class=\"nowrap\">"),
                text("class=\"offset\"", ">"),
                text("<td class=\"nowrap\"", ">"),
                row.contains("dst-day") && row.contains("abbr class=\"tag dst\""),
            )
        })
        .collect()
}

fn fields<'a>(
    slug: &'a str,
    name: &'a str,
    cron: &'a str,
    tz: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("slug", slug),
        ("name", name),
        ("cron", cron),
        ("timezone", tz),
        ("max_articles", "20"),
        ("enabled", "on"),
    ]
}

/// Waits (at most 20 s) until run `id` is finished; its figures from the progress route.
pub(crate) async fn wait_finished(c: &Console<'_>, id: i64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.get(&format!("/admin/runs/{id}/progress")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.unwrap();
        if v["finished"] == true {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {id} not done: {v}"
        );
        c.app.state.digests.wakeup.notify_waiters();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends! {
    async fn the_list_reads_each_schedule_and_lists_its_next_five_sends_with_dst_days_marked(app) {
        // Three days before Europe/Berlin moves to summer time (2026-03-29, 02:00 → 03:00).
        app.clock.set("2026-03-26T12:00:00Z".parse().unwrap());
        let admin = signed_in(&app, ADMIN, Role::Admin).await;
        let r = admin.post("/admin/schedules", "/admin/schedules/new", &fields("berlin", "柏林早报", "0 8 * * *", "Europe/Berlin")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = admin.post("/admin/schedules", "/admin/schedules/new", &fields("hourly", "Hourly", "8 * * * *", "Asia/Shanghai")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);

        let zh = admin.page("/admin/schedules?locale=zh-CN", StatusCode::OK).await;
        let berlin = section(&zh, "berlin");
        assert!(berlin.contains("每天 08:00（Europe/Berlin）"), "{berlin}");
        assert!(berlin.contains("已启用"));
        let row = |local: &str, offset: &str, utc: &str, dst: bool| (local.to_owned(), offset.to_owned(), utc.to_owned(), dst);
        assert_eq!(fires(berlin), vec![
            row("2026-03-27 08:00", "UTC+01:00", "2026-03-27 07:00", false),
            row("2026-03-28 08:00", "UTC+01:00", "2026-03-28 07:00", false),
            row("2026-03-29 08:00", "UTC+02:00", "2026-03-29 06:00", true),
            row("2026-03-30 08:00", "UTC+02:00", "2026-03-30 06:00", false),
            row("2026-03-31 08:00", "UTC+02:00", "2026-03-31 06:00", false),
        ]);
        assert!(zh.contains("夏令时开始或结束"), "the legend explains the mark");
        let hourly = section(&zh, "hourly");
        assert!(hourly.contains("每小时第 08 分（Asia/Shanghai）"), "{hourly}");
        assert_eq!(fires(hourly).first().unwrap(), &row("2026-03-26 20:08", "UTC+08:00", "2026-03-26 12:08", false));
        assert_eq!(fires(hourly).len(), 5);

        let en = admin.page("/admin/schedules?locale=en", StatusCode::OK).await;
        assert!(section(&en, "berlin").contains("every day at 08:00 (Europe/Berlin)"));
        assert!(section(&en, "hourly").contains("every hour at :08 (Asia/Shanghai)"), "{}", section(&en, "hourly"));
        assert!(en.contains("daylight saving time"));
    }

    async fn an_invalid_cron_is_shown_next_to_its_field_with_the_input_kept_and_nothing_changes(app) {
        let admin = signed_in(&app, ADMIN, Role::Admin).await;
        let before = app.state.store.get_schedule("daily").await.unwrap().unwrap();

        let r = admin.post("/admin/schedules/daily", "/admin/schedules/daily/edit", &fields("", "Daily news", "0 25 * * *", "Asia/Shanghai")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"f-cron-error\""), "{html}");
        let err = &html[html.find("id=\"f-cron-error\"").unwrap()..];
        let near: String = err.chars().take(120).collect();
        assert!(near.contains("无法识别这个 cron 表达式"), "{err}");
        assert!(html.contains("value=\"0 25 * * *\""), "the input is kept");
        assert!(html.contains("value=\"Daily news\""));
        assert!(html.contains("aria-invalid=\"true\""));
        let after = app.state.store.get_schedule("daily").await.unwrap().unwrap();
        assert_eq!((after.name, after.cron), (before.name.clone(), before.cron.clone()), "nothing changed");

        // Creating: a bad slug, an unknown zone and a bad cron, each next to its field.
        let r = admin.post("/admin/schedules?locale=en", "/admin/schedules/new", &fields("Bad Slug", "X", "every day", "Mars/Olympus")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"f-slug-error\""), "{html}");
        assert!(html.contains("id=\"f-cron-error\""));
        assert!(html.contains("value=\"Bad Slug\"") && html.contains("value=\"every day\"") && html.contains("value=\"Mars/Olympus\""));
        assert!(app.state.store.get_schedule("bad-slug").await.unwrap().is_none());
        let r = admin.post("/admin/schedules", "/admin/schedules/new", &fields("weekly", "Again", "0 8 * * *", "")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "an existing slug is refused on create");
        assert_eq!(app.state.store.get_schedule("weekly").await.unwrap().unwrap().cron, "0 9 * * 1");
        assert!(audits(&app, AuditKind::ScheduleCreate).await.is_empty());
        assert!(audits(&app, AuditKind::ScheduleUpdate).await.is_empty());
    }

    async fn create_edit_enable_disable_and_delete_take_effect_at_once_and_are_audited(app) {
        let admin = signed_in(&app, ADMIN, Role::Admin).await;
        let r = admin.post("/admin/schedules", "/admin/schedules/new", &fields("evening", "晚报", "30 18 * * 1-5", "Asia/Shanghai")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let s = app.state.store.get_schedule("evening").await.unwrap().unwrap();
        assert_eq!((s.name.as_str(), s.cron.as_str(), s.enabled, s.max_articles), ("晚报", "30 18 * * 1-5", true, 20));

        let mut edit = fields("", "晚报（工作日）", "0 19 * * 1-5", "Asia/Shanghai");
        edit.retain(|(k, _)| *k != "enabled");
        edit.push(("send_when_empty", "on"));
        let r = admin.post("/admin/schedules/evening", "/admin/schedules/evening/edit", &edit).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let s = app.state.store.get_schedule("evening").await.unwrap().unwrap();
        assert_eq!((s.name.as_str(), s.cron.as_str(), s.enabled, s.send_when_empty), ("晚报（工作日）", "0 19 * * 1-5", false, true));

        let r = admin.post("/admin/schedules/evening/enable", "/admin/schedules", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(app.state.store.get_schedule("evening").await.unwrap().unwrap().enabled);
        let list = admin.page("/admin/schedules", StatusCode::OK).await;
        assert!(section(&list, "evening").contains("/admin/schedules/evening/disable"));
        admin.post("/admin/schedules/evening/disable", "/admin/schedules", &[]).await;
        assert!(!app.state.store.get_schedule("evening").await.unwrap().unwrap().enabled);

        let confirm = admin.page("/admin/schedules/evening/delete", StatusCode::OK).await;
        assert!(confirm.contains("晚报（工作日）") && confirm.contains("method=\"post\""));
        assert!(app.state.store.get_schedule("evening").await.unwrap().is_some(), "asking deletes nothing");
        let r = admin.post("/admin/schedules/evening/delete", "/admin/schedules/evening/delete", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(app.state.store.get_schedule("evening").await.unwrap().is_none());

        assert_eq!(audits(&app, AuditKind::ScheduleCreate).await.len(), 1);
        let updates = audits(&app, AuditKind::ScheduleUpdate).await;
        assert_eq!(updates.len(), 3, "edit, enable, disable");
        assert!(updates.iter().all(|(actor, target, _)| actor == ADMIN && target == "schedule evening"));
        assert!(updates.last().unwrap().2.as_deref().unwrap().contains("0 19 * * 1-5"));
        assert_eq!(audits(&app, AuditKind::ScheduleDelete).await.len(), 1);
    }

    async fn an_editor_gets_403_on_schedule_routes_but_may_preview(app) {
        let editor = signed_in(&app, EDITOR, Role::Editor).await;
        let csrf = editor.csrf("/admin").await;
        for path in ["/admin/schedules", "/admin/schedules/new", "/admin/schedules/daily/edit", "/admin/schedules/daily/run", "/admin/schedules/daily/delete"] {
            assert_eq!(editor.get(path).await.status(), StatusCode::FORBIDDEN, "GET {path}");
        }
        for path in ["/admin/schedules", "/admin/schedules/daily", "/admin/schedules/daily/disable", "/admin/schedules/daily/run", "/admin/schedules/daily/delete"] {
            let r = editor.post_raw(path, &[("csrf", &csrf), ("name", "x"), ("cron", "* * * * *")]).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "POST {path}");
        }
        assert!(app.state.store.get_schedule("daily").await.unwrap().unwrap().enabled);
        assert!(app.state.store.list_runs(None, None, 10).await.unwrap().is_empty());
        let previews = editor.page("/admin/previews", StatusCode::OK).await;
        assert!(previews.contains("/admin/schedules/daily/preview") && !previews.contains("/admin/schedules/daily/edit"));
        let home = editor.page("/admin", StatusCode::OK).await;
        assert!(home.contains("/admin/previews") && !home.contains("href=\"/admin/schedules\""));
    }
}

/// Preview and test send need real mail: the test SMTP server.
mod with_mail {
    use super::*;

    on_both_backends! {
        async fn preview_shows_the_digest_in_a_sandbox_and_explains_a_skip(_app) {
            let smtp = SmtpServer::start();
            let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
            import(&app, "reader@example.com,,daily\nother@example.com,,weekly\n").await;
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, "n1", "news", "要闻 <b>一</b>").await;
            app.clock.advance(chrono::Duration::minutes(1));
            let editor = signed_in(&app, EDITOR, Role::Editor).await;

            let page = editor.page("/admin/schedules/daily/preview?email=reader%40example.com", StatusCode::OK).await;
            assert!(page.contains("<iframe sandbox src=\"/admin/schedules/daily/preview/mail?email=reader%40example.com\""), "{page}");
            assert!(!page.contains("要闻 <b>"), "the title is escaped on the page");
            let r = editor.get("/admin/schedules/daily/preview").await;
            let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("frame-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");

            let r = editor.get("/admin/schedules/daily/preview/mail?email=reader%40example.com").await;
            assert_eq!(r.status(), StatusCode::OK);
            let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("sandbox") && csp.contains("default-src 'none'") && !csp.contains("script"), "{csp}");
            let mail = r.text().await.unwrap();
            assert!(mail.contains("要闻 &lt;b&gt;一&lt;/b&gt;"), "{mail}");

            // On another schedule and nothing new for it: the page says why nothing would go.
            let page = editor.page("/admin/schedules/daily/preview?email=other%40example.com&locale=en", StatusCode::OK).await;
            assert!(page.contains("this subscriber is on weekly"), "{page}");
            let page = editor.page("/admin/schedules/daily/preview?email=nobody%40example.com&locale=en", StatusCode::UNPROCESSABLE_ENTITY).await;
            assert!(page.contains("No subscriber has this address."));
            assert!(page.contains("value=\"nobody@example.com\""));

            // After a run, nothing is new: the preview explains the skip instead of a digest.
            let admin = signed_in(&app, ADMIN, Role::Admin).await;
            let r = admin.post("/admin/schedules/daily/run", "/admin/schedules/daily/run", &[]).await;
            let id: i64 = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
            wait_finished(&admin, id).await;
            let page = editor.page("/admin/schedules/daily/preview?email=reader%40example.com&locale=zh-CN", StatusCode::OK).await;
            // Since the run's cutoff (their watermark), on the site's wall clock.
            assert!(page.contains("自 2026-03-01 08:02 以来，他选择的栏目没有新文章"), "{page}");
            assert!(!page.contains("<iframe"));
            assert_eq!(editor.get("/admin/schedules/daily/preview/mail?email=reader%40example.com").await.status(), StatusCode::NOT_FOUND);
        }

        async fn a_test_send_reaches_the_person_only_records_no_delivery_moves_no_watermark_and_is_limited(_app) {
            let smtp = SmtpServer::start();
            let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
            import(&app, "reader@example.com,,daily\n").await;
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, "n1", "news", "要闻一").await;
            app.clock.advance(chrono::Duration::minutes(1));
            let editor = signed_in(&app, EDITOR, Role::Editor).await;
            let from = "/admin/schedules/daily/preview?email=reader%40example.com";

            let r = editor.post("/admin/schedules/daily/test", from, &[("email", "reader@example.com")]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            let back = r.headers()["location"].to_str().unwrap().to_owned();
            let mails = smtp.wait_for(1).await;
            assert_eq!(mails.len(), 1);
            assert_eq!(mails[0].to, vec![EDITOR.to_owned()]);
            let m = &smtp.to(EDITOR)[0];
            assert!(m.header("Subject").unwrap().contains("[测试]"), "{:?}", m.header("Subject"));
            assert!(m.html().contains("要闻一"));
            assert!(m.header("List-Unsubscribe").is_none(), "no unsubscribe of the subscriber in a test");
            assert!(smtp.to("reader@example.com").is_empty());
            let page = editor.page(&back, StatusCode::OK).await;
            assert!(page.contains(&format!("测试邮件已发送到 {EDITOR}")), "{page}");

            let reader = app.state.store.subscriber_by_email("reader@example.com").await.unwrap().unwrap();
            assert!(app.state.store.watermarks("daily", &[reader.id]).await.unwrap().is_empty(), "no watermark");
            assert!(app.state.store.list_runs(None, None, 10).await.unwrap().is_empty(), "no run, so no delivery row");
            let sent = audits(&app, AuditKind::ScheduleTestSend).await;
            assert_eq!(sent, vec![(EDITOR.to_owned(), "schedule daily".to_owned(), Some(format!("as reader@example.com to {EDITOR}")))]);

            // The real run still mails the subscriber what the test showed.
            let admin = signed_in(&app, ADMIN, Role::Admin).await;
            let r = admin.post("/admin/schedules/daily/run", "/admin/schedules/daily/run", &[]).await;
            let id: i64 = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
            let v = wait_finished(&admin, id).await;
            assert_eq!((v["sent"].as_i64(), v["total"].as_i64()), (Some(1), Some(1)), "{v}");
            smtp.wait_for(2).await;
            assert!(smtp.to("reader@example.com")[0].html().contains("要闻一"));

            // Nothing is new after the run: a test says so and sends nothing.
            let r = editor.post("/admin/schedules/daily/test", from, &[("email", "reader@example.com")]).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.text().await.unwrap().contains("没有新文章"));
            assert_eq!(smtp.to(EDITOR).len(), 1);

            // Ten an hour per person: the eleventh is refused and sends nothing.
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, "n2", "news", "要闻二").await;
            app.clock.advance(chrono::Duration::minutes(1));
            for _ in 1..10 {
                let r = editor.post("/admin/schedules/daily/test", from, &[("email", "reader@example.com")]).await;
                assert_eq!(r.status(), StatusCode::SEE_OTHER);
            }
            smtp.wait_for(11).await;
            let r = editor.post("/admin/schedules/daily/test?locale=en", from, &[("email", "reader@example.com")]).await;
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(r.text().await.unwrap().contains("At most 10 test digests an hour"));
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(smtp.to(EDITOR).len(), 10);
            app.clock.advance(chrono::Duration::minutes(61));
            let r = editor.post("/admin/schedules/daily/test", from, &[("email", "reader@example.com")]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "an hour later it works again");
        }

        async fn run_now_asks_with_the_count_then_starts_a_run_whose_page_shows_it_sent(_app) {
            let smtp = SmtpServer::start();
            let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
            import(&app, "a@example.com,,daily\nb@example.com,,daily\nw@example.com,,weekly\n").await;
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, "n1", "news", "要闻一").await;
            app.clock.advance(chrono::Duration::minutes(1));
            let admin = signed_in(&app, ADMIN, Role::Admin).await;

            let confirm = admin.page("/admin/schedules/daily/run", StatusCode::OK).await;
            assert!(confirm.contains("这会立即给 2 位订阅者发送"), "{confirm}");
            assert!(app.state.store.list_runs(None, None, 10).await.unwrap().is_empty(), "asking starts nothing");
            let r = admin.post("/admin/schedules/daily/run", "/admin/schedules/daily/run", &[]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(location.starts_with("/admin/runs/"), "{location}");
            let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
            let v = wait_finished(&admin, id).await;
            assert_eq!((v["sent"].as_i64(), v["total"].as_i64(), v["status"].as_str()), (Some(2), Some(2), Some("done")), "{v}");
            smtp.wait_for(2).await;
            let page = admin.page(&location, StatusCode::OK).await;
            assert!(page.contains("已完成") && page.contains("<progress id=\"run-progress\" max=\"2\" value=\"2\""), "{page}");
            assert!(page.contains("data-figure=\"sent\">2<"));
            let started = audits(&app, AuditKind::ScheduleRunNow).await;
            assert_eq!(started, vec![(ADMIN.to_owned(), "schedule daily".to_owned(), Some(format!("run {id}")))]);
        }
    }
}
