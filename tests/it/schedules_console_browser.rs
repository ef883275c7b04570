//! Instant schedules and announcements in the console, in a real browser (headless Chromium),
//! in zh-CN and en: the schedules list with an instant schedule waiting for its window, its
//! form, and announcing an article from its page through the confirmation to the run. Each
//! page is saved at 1280 and 390 px in `tests/artifacts/` (`admin-{locale}-6x-…`).

use crate::{
    common::{
        self, Backend,
        browser::{click, fill, shoot, text, wait_css, wait_path},
        smtp::SmtpServer,
    },
    digest_delivery::{import, publish, wait_done},
    digest_instant::put_schedule,
    subscriptions_browser::start_chromedriver,
};

use std::net::TcpListener;

use tidings::domain::Role;

/// What the pages say, per locale.
fn words(locale: &str) -> (&'static str, &'static str, &'static str) {
    match locale {
        "en" => (
            "Next mail",
            "within 10 minutes of a publication",
            "This mails the article now to 3",
        ),
        _ => (
            "下一封",
            "有新文章发布后 10 分钟内发送",
            "这会立即把这篇文章发给所属栏目的 3 位",
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_schedules_and_an_announcement_in_a_real_browser() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let app = common::spawn_app_with(Backend::Sqlite, |c| {
        c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.site.base_url = base.clone();
        c.mail.transport = tidings::config::MailTransport::Smtp;
        c.mail.smtp_url = Some(url);
        c.mail.timeout = Some("10s".into());
        c.mail.rate_per_second = 1000;
    })
    .await
    .unwrap();
    let r = put_schedule(
        &app,
        "alerts",
        serde_json::json!({"kind": "instant", "window": "10m",
            "names": {"zh-CN": "工会快讯", "en": "Union alerts"}}),
    )
    .await;
    assert!(r.status().is_success());
    import(
        &app,
        "wang.fang@example.org,,alerts\nli.na@example.org,news,daily\nzhao.min@example.org,,weekly\n",
    )
    .await;
    app.clock.advance(chrono::Duration::minutes(1));
    publish(&app, "zh-CN", "news", "省总工会召开“职工之家”建设推进会").await;
    publish(
        &app,
        "en",
        "news",
        "Provincial federation opens workers' homes",
    )
    .await;
    smtp.wait_for(1).await;
    app.clock.advance(chrono::Duration::minutes(2));
    // Inside the window: the list shows when the next mail goes.
    publish(&app, "n2", "news", "关于做好春节期间困难职工帮扶工作的通知").await;

    let (_driver, webdriver) = start_chromedriver().await;
    for locale in ["zh-CN", "en"] {
        let (next, reading, lead) = words(locale);
        let (client, _profile) = common::browser::open(&webdriver, locale).await;
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
        wait_css(&client, "#s-alerts").await;
        let card = text(&client, "section[aria-labelledby=s-alerts]").await;
        assert!(card.contains(reading) && card.contains(next), "{card}");
        // The window ends 10 minutes after the first publication (00:01Z): 08:11 in Shanghai.
        assert!(card.contains("2026-03-01 08:11"), "{card}");
        shoot(&client, locale, "60-schedules-instant").await;

        client
            .goto(&format!("{base}/admin/schedules/alerts/edit"))
            .await
            .unwrap();
        wait_css(&client, "#f-window").await;
        shoot(&client, locale, "61-schedule-form-instant").await;

        // Each locale announces its own article (the id is the locale).
        let article = locale;
        client
            .goto(&format!("{base}/admin/articles/{article}"))
            .await
            .unwrap();
        click(
            &client,
            &format!("a[href='/admin/articles/{article}/announce']"),
        )
        .await;
        wait_path(&client, &format!("/admin/articles/{article}/announce")).await;
        let ask = text(&client, ".confirm-lead").await;
        assert!(ask.starts_with(lead), "{ask}");
        let title = app
            .state
            .store
            .get_article(article)
            .await
            .unwrap()
            .unwrap()
            .title;
        assert_eq!(text(&client, ".confirm strong").await, title);
        shoot(&client, locale, "62-announce-confirm").await;
        click(&client, ".confirm form button.primary").await;
        let run = wait_path(&client, "/admin/runs/").await;
        let id: i64 = run.rsplit('/').next().unwrap().parse().unwrap();
        wait_done(&app, id).await;
        client.refresh().await.unwrap();
        wait_css(&client, "[data-run-status]").await;
        assert!(
            text(&client, "h1").await.contains(&title),
            "the run is named by its article"
        );
        shoot(&client, locale, "63-announce-run").await;

        // Asked again, the page says it went out before and offers to send it again.
        client
            .goto(&format!("{base}/admin/articles/{article}/announce"))
            .await
            .unwrap();
        wait_css(&client, ".confirm p.warn").await;
        shoot(&client, locale, "64-announce-again").await;
        client.close().await.unwrap();
    }
}
