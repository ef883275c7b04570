//! The digest mail's HTML part and its web copy in headless Chromium, in zh-CN and en, at
//! 1280 and 390 px: nothing wider than the screen, pictures inside the column, the column at
//! most 600 px. Whole-page screenshots land in `tests/artifacts/` as
//! `digest-<locale>-<mail|webcopy>-<width>.png`, the mail's parts as `digest-<locale>-text.txt`
//! and `digest-<locale>-mail.html`.

use std::net::TcpListener;

use fantoccini::Client;
use serde_json::json;
use tidings::domain::{Audit, AuditKind};

use crate::{
    common::{self, smtp::SmtpServer},
    digest_design::{import, picture_server, publish, run_daily},
    subscriptions_browser::{artifacts, start_chromedriver},
};

const WIDTHS: [u32; 2] = [1280, 390];

/// Loads `url` at each width, checks the layout and saves the whole page.
async fn shoot(client: &Client, url: &str, name: &str) {
    for width in WIDTHS {
        client.set_window_size(width, 900).await.unwrap();
        client.goto(url).await.unwrap();
        let measured = client
            .execute(
                "const cards = [...document.querySelectorAll('td.card')];\
                 const imgs = [...document.images].filter(i => !i.closest('[style*=\"display:none\"]'));\
                 return { page: document.documentElement.scrollWidth, view: window.innerWidth,\
                   height: document.documentElement.scrollHeight,\
                   loaded: imgs.every(i => i.complete && i.naturalWidth > 0),\
                   card: cards.map(c => c.getBoundingClientRect().width),\
                   overflow: imgs.filter(i => { const r = i.getBoundingClientRect();\
                     const c = i.closest('td').getBoundingClientRect(); return r.right > c.right + 1 || r.left < c.left - 1; }).length };",
                vec![],
            )
            .await
            .unwrap();
        let view = measured["view"].as_u64().unwrap();
        assert!(
            measured["page"].as_u64().unwrap() <= view,
            "{name} at {width}: wider than the screen: {measured}"
        );
        assert_eq!(
            measured["overflow"], 0,
            "{name} at {width}: a picture leaves its column: {measured}"
        );
        assert_eq!(
            measured["loaded"], true,
            "{name} at {width}: a picture did not load: {measured}"
        );
        let card = measured["card"][0].as_f64().unwrap();
        assert!(
            card <= 600.5 && card >= (view as f64 - 40.0).min(599.0),
            "{name} at {width}: column {card} px: {measured}"
        );
        // The whole page: the window grows until its viewport holds the page's height.
        let mut outer = measured["height"].as_u64().unwrap().min(8000) as u32;
        for _ in 0..3 {
            client.set_window_size(width, outer).await.unwrap();
            let sizes = client
                .execute(
                    "return [window.innerHeight, document.documentElement.scrollHeight];",
                    vec![],
                )
                .await
                .unwrap();
            let (inner, page) = (
                sizes[0].as_u64().unwrap() as u32,
                sizes[1].as_u64().unwrap() as u32,
            );
            if inner >= page || outer >= 8000 {
                break;
            }
            outer = (outer + page - inner).min(8000);
        }
        let png = client.screenshot().await.unwrap();
        std::fs::write(artifacts().join(format!("digest-{name}-{width}.png")), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_and_its_web_copy_render_well_at_1280_and_390_px() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let smtp = SmtpServer::start();
    let app = common::smtp::spawn_app_with_smtp(common::Backend::Sqlite, &smtp, |c| {
        c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.site.base_url = base.clone();
    })
    .await
    .unwrap();
    let pictures = picture_server().await;
    let settings: Vec<(String, Option<String>)> = [
        ("logo_url", format!("{pictures}/logo.png")),
        (
            "address.zh-CN",
            "青海省西宁市城西区五四大街 12 号 · 邮编 810001".into(),
        ),
        (
            "address.en",
            "12 Wusi Street, Chengxi District, Xining, Qinghai 810001".into(),
        ),
        (
            "footer.zh-CN",
            "本邮件由青海省总工会宣传教育部编发。".into(),
        ),
        (
            "footer.en",
            "Sent by the publicity department of the Qinghai Federation of Trade Unions.".into(),
        ),
        ("title.en", "Qinghai Federation of Trade Unions".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Some(v)))
    .collect();
    let audit = Audit::new("test", AuditKind::SettingsChange, "site settings", None);
    app.state
        .store
        .save_site_settings(&settings, &audit, 0)
        .await
        .unwrap();
    app.state.branding.reload().await;

    import(
        &app,
        "li.na@example.net,,daily,zh-CN\nwang.fang@example.net,,daily,en\n",
    )
    .await;
    app.clock.advance(chrono::Duration::minutes(1));
    let photo = json!({"url": format!("{pictures}/photo.png"), "caption": "职工书屋阅览区一角"});
    publish(
        &app,
        "library",
        "news",
        "省总工会职工书屋正式开放，首批藏书三千余册供职工免费借阅",
        json!({"author": "王芳", "image": photo}),
    )
    .await;
    publish(
        &app,
        "contest",
        "news",
        "全省职工职业技能大赛开幕 · Skills contest opens",
        json!({"author": "张鹏"}),
    )
    .await;
    publish(
        &app,
        "holiday",
        "notices",
        "关于 2026 年清明节放假安排的通知",
        json!({}),
    )
    .await;
    publish(
        &app,
        "visit",
        "grassroots",
        "西宁市总工会开展“送温暖”活动，走访慰问一线职工 120 余人",
        json!({"author": "李娜", "image": {"url": format!("{pictures}/small.png")}}),
    )
    .await;
    let mails = run_daily(&app, &smtp, &["li.na@example.net", "wang.fang@example.net"]).await;

    let (_driver, webdriver) = start_chromedriver().await;
    let files = tempfile::tempdir().unwrap();
    for (mail, locale) in mails.iter().zip(["zh-CN", "en"]) {
        let (client, _profile) = common::browser::open(&webdriver, locale).await;
        let file = files.path().join(format!("{locale}.html"));
        std::fs::write(&file, mail.html()).unwrap();
        std::fs::write(
            artifacts().join(format!("digest-{locale}-text.txt")),
            mail.text().replace("\r\n", "\n"),
        )
        .unwrap();
        std::fs::write(
            artifacts().join(format!("digest-{locale}-mail.html")),
            mail.html(),
        )
        .unwrap();
        shoot(
            &client,
            &format!("file://{}", file.display()),
            &format!("{locale}-mail"),
        )
        .await;

        // Mail clients that block pictures (the default of many) still get a mail no wider
        // than the screen: a blocked picture keeps its box within the column.
        let blocked = files.path().join(format!("{locale}-blocked.html"));
        std::fs::write(
            &blocked,
            mail.html().replace(&pictures, "http://127.0.0.1:9"),
        )
        .unwrap();
        client.set_window_size(390, 900).await.unwrap();
        client
            .goto(&format!("file://{}", blocked.display()))
            .await
            .unwrap();
        let widths = client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            widths[0].as_u64() <= widths[1].as_u64(),
            "{locale}, pictures blocked: {widths}"
        );

        let web = crate::digest_design::hrefs_of(
            &mail.html(),
            if locale == "en" {
                "View in browser"
            } else {
                "在浏览器中查看"
            },
        );
        assert!(web[0].starts_with(&format!("{base}/digests/")), "{web:?}");
        shoot(&client, &web[0], &format!("{locale}-webcopy")).await;
        client.close().await.unwrap();
    }
}
