//! Console: the settings page (branding used by public pages and mail), the dashboard's
//! growth chart, people on the accounts page, and `server.trusted_proxies`.

use reqwest::StatusCode;
use tidings::domain::{AuditKind, LoginOutcome, Role};

use crate::{
    common::{
        self,
        admin::{Console, PASSWORD, local, signed_in},
        smtp::{SmtpServer, spawn_app_with_smtp},
    },
    digest_delivery::{import, publish, run_now, wait_done},
};

const BRANDING: &[(&str, &str)] = &[
    ("title.zh-CN", "湟水职工之家"),
    ("title.en", "Huangshui Workers' Home"),
    ("footer.zh-CN", "页脚 <i>测试</i>"),
    ("sender_name.zh-CN", "职工之家编辑部"),
    ("logo_url", "https://cdn.example.org/logo.png"),
    ("accent_colour", "#1565C0"),
];

on_both_backends! {
    async fn saved_settings_show_on_the_subscribe_page_and_in_a_digest_mail(_app) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
        let admin = signed_in(&app, "guan.li@example.org", Role::Admin).await;

        let r = admin.post("/admin/settings", "/admin/settings", BRANDING).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/settings?saved=1");
        let html = admin.page("/admin/settings?saved=1", StatusCode::OK).await;
        assert!(html.contains("value=\"#1565c0\""), "the colour is kept in lower case: {html}");
        assert!(html.contains("/admin/settings/accent.css?v=1565c0"), "the console links the accent stylesheet");
        let css = admin.page("/admin/settings/accent.css?v=1565c0", StatusCode::OK).await;
        assert!(css.contains("--accent: #1565c0"), "{css}");

        // The public page, at its next showing.
        let page = app.client.get(app.url("/subscribe")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("湟水职工之家"), "{page}");
        assert!(page.contains("<img src=\"https://cdn.example.org/logo.png\""), "{page}");
        assert!(page.contains("#1565c0"));
        assert!(page.contains("页脚 &lt;i&gt;测试&lt;/i&gt;") || page.contains("页脚 &lt;i&gt;测试&lt;&#x2f;i&gt;"), "footer escaped: {page}");
        let en = app.client.get(app.url("/subscribe?locale=en")).send().await.unwrap().text().await.unwrap();
        assert!(en.contains("Huangshui Workers&#x27; Home") || en.contains("Huangshui Workers' Home"), "{en}");

        // A digest sent after the change.
        import(&app, "reader@example.com,,daily\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "n1", "news", "要闻一").await;
        app.clock.advance(chrono::Duration::minutes(1));
        wait_done(&app, run_now(&app, "daily").await).await;
        let mail = &smtp.wait_for(1).await[0];
        let from = mail.header("From").unwrap();
        assert!(from.contains("职工之家编辑部"), "{from}");
        assert!(mail.header("Subject").unwrap().contains("湟水职工之家"));
        assert!(mail.html().contains("湟水职工之家") && mail.html().contains("https://cdn.example.org/logo.png"));
        assert!(mail.html().contains("#1565c0"));

        let audit = app.state.store.audit_entries(None, Some(AuditKind::SettingsChange), None, 5).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert!(audit[0].before.as_deref().unwrap().contains("title.zh-CN: (default)"), "{:?}", audit[0]);
        assert!(audit[0].after.as_deref().unwrap().contains("title.zh-CN: \"湟水职工之家\""), "{:?}", audit[0]);

        // Emptying a field goes back to the config default.
        let mut back: Vec<(&str, &str)> = BRANDING.to_vec();
        back[0].1 = "";
        let r = admin.post("/admin/settings", "/admin/settings", &back).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let page = app.client.get(app.url("/subscribe")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&app.state.config.site.title) && !page.contains("湟水职工之家"));
    }

    async fn an_invalid_colour_or_logo_url_is_shown_in_place_and_nothing_is_saved(app) {
        let admin = signed_in(&app, "guan.li@example.org", Role::Admin).await;
        let r = admin.post("/admin/settings", "/admin/settings", &[
            ("title.zh-CN", "新的站点名称"),
            ("logo_url", "javascript:alert(1)"),
            ("accent_colour", "red"),
        ]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("请按 #rrggbb 的格式填写颜色"), "{html}");
        assert!(html.contains("请填写以 http:// 或 https:// 开头的完整图片地址"), "{html}");
        assert!(html.contains("value=\"red\"") && html.contains("value=\"新的站点名称\""), "what was typed is kept");
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(app.state.store.site_settings().await.unwrap().is_empty(), "nothing saved");
        assert!(app.state.store.audit_entries(None, Some(AuditKind::SettingsChange), None, 5).await.unwrap().is_empty());
    }

    async fn an_editor_gets_403_on_settings_and_people_routes(app) {
        let editor = signed_in(&app, "bian.ji@example.org", Role::Editor).await;
        assert_eq!(editor.get("/admin/settings").await.status(), StatusCode::FORBIDDEN);
        let csrf = editor.csrf("/admin").await;
        for path in ["/admin/settings", "/admin/people", "/admin/people/role", "/admin/people/remove"] {
            let r = editor.post_raw(path, &[("csrf", &csrf), ("email", "bian.ji@example.org"), ("role", "admin"), ("title.zh-CN", "x")]).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "POST {path}");
        }
        assert!(app.state.store.site_settings().await.unwrap().is_empty());
        assert_eq!(app.state.store.list_accounts().await.unwrap()[0].role, Role::Editor);
    }

    async fn the_growth_chart_works_back_from_todays_subscribers(app) {
        import(&app, "a@example.com,,daily\nb@example.com,,daily\nc@example.com,,daily\n").await;
        app.clock.advance(chrono::Duration::days(5));
        import(&app, "d@example.com,,daily\ne@example.com,,daily\n").await;
        app.clock.advance(chrono::Duration::days(2));
        let a = app.state.store.subscriber_by_email("a@example.com").await.unwrap().unwrap();
        assert!(app.state.store.unsubscribe(a.id, a.generation, tidings::clock::to_ms(app.clock.now())).await.unwrap());
        app.clock.advance(chrono::Duration::days(1));

        let admin = signed_in(&app, "guan.li@example.org", Role::Admin).await;
        let html = admin.page("/admin", StatusCode::OK).await;
        assert!(html.contains("90 天内净增 4 人，新登记 5 人；目前有效订阅 4 人。"), "{html}");
        let svg = &html[html.find("<svg class=\"growth wide\"").expect("the chart")..];
        let svg = &svg[..svg.find("</svg>").unwrap()];
        assert!(svg.contains("<desc id=\"growth-desc-wide\">90 天内净增 4 人"));
        let points = svg.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        let ys: Vec<f64> = points.split(' ').map(|p| p.split(',').nth(1).unwrap().parse().unwrap()).collect();
        assert_eq!(ys.len(), 90);
        // Nobody before the first import; 3, then 5, then 4 (the axis tops at 5): higher is less.
        assert!(html.contains("<svg class=\"growth narrow\""), "a drawing for phones too");
        let (empty, three, five, four) = (ys[0], ys[81], ys[87], ys[89]);
        assert!(empty > three && three > four && four > five, "{ys:?}");
        assert!(!svg.contains("style="), "no inline style (CSP)");
        let en = admin.page("/admin?locale=en", StatusCode::OK).await;
        assert!(en.contains("Net growth over 90 days: 4; 5 sign-ups; 4 active subscribers now."), "{en}");
    }

    async fn an_admin_adds_a_person_whose_link_sets_a_password_and_logs_in(app) {
        let admin = signed_in(&app, "guan.li@example.org", Role::Admin).await;
        let r = admin.post("/admin/people", "/admin/accounts", &[("email", "Xin.Ren@Example.org"), ("role", "editor")]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        let at = html.find("http://feeds.example.test/admin/password?token=").expect("the link is shown");
        let link = &html[at..];
        let link = &link[..link.find('"').unwrap()];
        assert!(html.contains("xin.ren@example.org"));

        let person = Console::new(&app);
        let link = local(&app, link);
        assert_eq!(person.set_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(person.log_in("xin.ren@example.org", PASSWORD).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(person.get("/admin/sources").await.status(), StatusCode::OK);
        assert_eq!(person.get("/admin/settings").await.status(), StatusCode::FORBIDDEN, "an editor");

        let added = app.state.store.audit_entries(Some("guan.li@example.org"), Some(AuditKind::AccountAdd), None, 5).await.unwrap();
        assert_eq!((added.len(), added[0].target.as_str()), (1, "xin.ren@example.org"));
        assert_eq!(added[0].after.as_deref(), Some("role editor"));

        // Twice the same address, or not an address: said in place.
        let r = admin.post("/admin/people", "/admin/accounts", &[("email", "xin.ren@example.org"), ("role", "admin")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("xin.ren@example.org 已经有账号了"));
        let r = admin.post("/admin/people", "/admin/accounts", &[("email", "not an address"), ("role", "editor")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("value=\"not an address\""));

        // Removing them ends their session at once.
        let r = admin.post("/admin/people/remove", "/admin/accounts", &[("email", "xin.ren@example.org")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(person.get("/admin/sources").await.status(), StatusCode::SEE_OTHER, "sent to the login form");
        assert_eq!(app.state.store.list_accounts().await.unwrap().len(), 1);
    }

    async fn the_last_admin_cannot_be_demoted_or_removed(app) {
        let admin = signed_in(&app, "guan.li@example.org", Role::Admin).await;
        let html = admin.page("/admin/accounts", StatusCode::OK).await;
        assert!(html.contains("guan.li@example.org"));
        let r = admin.post("/admin/people/role", "/admin/accounts", &[("email", "guan.li@example.org"), ("role", "editor")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("guan.li@example.org 是最后一位管理员"));
        let r = admin.post("/admin/people/remove", "/admin/accounts", &[("email", "guan.li@example.org")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(app.state.store.list_accounts().await.unwrap()[0].role, Role::Admin);

        // With a second admin, the first may step down; the new role applies at once.
        let other = signed_in(&app, "fu.ze@example.org", Role::Editor).await;
        let r = admin.post("/admin/people/role", "/admin/accounts", &[("email", "fu.ze@example.org"), ("role", "admin")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(other.get("/admin/settings").await.status(), StatusCode::OK);
        let r = admin.post("/admin/people/role", "/admin/accounts", &[("email", "guan.li@example.org"), ("role", "editor")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(admin.get("/admin/settings").await.status(), StatusCode::FORBIDDEN);
        let r = other.post("/admin/people/role", "/admin/accounts", &[("email", "fu.ze@example.org"), ("role", "editor")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "now the other is the last admin");
        let roles = app.state.store.audit_entries(None, Some(AuditKind::AccountRole), None, 5).await.unwrap();
        assert_eq!(roles.len(), 2);
        assert_eq!((roles[0].before.as_deref(), roles[0].after.as_deref()), (Some("role admin"), Some("role editor")));
    }
}

/// A browser behind a proxy that says the client is `forwarded`.
fn behind_proxy<'a>(app: &'a common::TestApp, forwarded: &str) -> Console<'a> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", forwarded.parse().unwrap());
    Console {
        app,
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap(),
    }
}

/// Records `CLIENT_FAILURES` failed logins from `client`, as if it had tried that often.
async fn failures_from(app: &common::TestApp, client: &str) {
    let now = tidings::clock::to_ms(app.clock.now());
    for _ in 0..tidings::admin::CLIENT_FAILURES {
        app.state
            .store
            .record_login_attempt("someone@example.org", client, LoginOutcome::Failed, now)
            .await
            .unwrap();
    }
}

mod trusted_proxies {
    use super::*;

    on_both_backends! {
        async fn forwarded_for_from_a_trusted_proxy_names_the_client(_app) {
            let app = common::spawn_app_with(_app.backend, |c| {
                c.server.trusted_proxies = vec!["127.0.0.0/8".to_owned().try_into().unwrap()];
            }).await.unwrap();
            common::admin::add_account(&app, "guan.li@example.org", Role::Admin).await;
            failures_from(&app, "203.0.113.5").await;

            // The throttled client is the one nginx names, not the proxy.
            let spoofed = behind_proxy(&app, "198.51.100.1, 203.0.113.5");
            assert_eq!(spoofed.log_in("guan.li@example.org", "wrong password").await.status(), StatusCode::TOO_MANY_REQUESTS);
            let other = behind_proxy(&app, "198.51.100.7");
            assert_eq!(other.log_in("guan.li@example.org", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
            let attempts = app.state.store.recent_login_attempts(5).await.unwrap();
            assert_eq!(attempts[0].client, "198.51.100.7");

            // And the audit log says where a change came from.
            let link = common::admin::add_account(&app, "fu.ze@example.org", Role::Admin).await;
            assert_eq!(other.set_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::SEE_OTHER);
            assert_eq!(other.log_in("fu.ze@example.org", PASSWORD).await.status(), StatusCode::SEE_OTHER);
            let logins = app.state.store.audit_entries(Some("fu.ze@example.org"), Some(AuditKind::Login), None, 1).await.unwrap();
            assert_eq!(logins[0].client.as_deref(), Some("198.51.100.7"));
        }

        async fn forwarded_for_from_an_untrusted_peer_is_ignored(app) {
            common::admin::add_account(&app, "guan.li@example.org", Role::Admin).await;
            failures_from(&app, "203.0.113.5").await;
            let spoofed = behind_proxy(&app, "203.0.113.5");
            assert_eq!(spoofed.log_in("guan.li@example.org", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
            let attempts = app.state.store.recent_login_attempts(5).await.unwrap();
            assert_eq!(attempts[0].client, "127.0.0.1");
        }
    }
}

/// The dashboard's chart, the sources, settings and accounts pages in Chromium, zh-CN and en.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_sources_settings_and_people_in_a_real_browser() {
    use crate::common::browser::shoot;
    use fantoccini::Locator;
    use tidings::domain::SourceType;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.site.base_url = base.clone();
        c.sources = vec![
            toml::from_str("kind = \"feed\"\nname = \"省政府网站\"\nsection = \"news\"\nurl = \"http://127.0.0.1:9/rss.xml\"\ninterval = \"1h\"").unwrap(),
            toml::from_str("kind = \"feed\"\nname = \"合作单位\"\nsection = \"grassroots\"\nurl = \"https://partner.example.org/feed.xml\"\ninterval = \"30m\"").unwrap(),
        ];
    })
    .await
    .unwrap();
    // Two months of sign-ups, a few leaving.
    let mut n = 0;
    for day in 0..60 {
        let rows: String = (0..(3 + day % 7 + day / 10))
            .map(|i| {
                n += 1;
                format!("p{n}.{i}@example.org,,daily\n")
            })
            .collect();
        import(&app, &rows).await;
        if day % 9 == 4 {
            let s = app
                .state
                .store
                .subscriber_by_email(&format!("p{}.0@example.org", n - 5))
                .await
                .unwrap();
            if let Some(s) = s {
                app.state
                    .store
                    .unsubscribe(s.id, s.generation, tidings::clock::to_ms(app.clock.now()))
                    .await
                    .unwrap();
            }
        }
        app.clock.advance(chrono::Duration::days(1));
    }
    let now = tidings::clock::to_ms(app.clock.now());
    app.state
        .store
        .record_source_error(
            "省政府网站",
            SourceType::Feed,
            "GET http://127.0.0.1:9/rss.xml: connection refused <b>(not bold)</b>",
            None,
            now - 3_600_000,
        )
        .await
        .unwrap();
    app.state
        .store
        .record_source_error(
            "省政府网站",
            SourceType::Feed,
            "GET http://127.0.0.1:9/rss.xml: connection refused <b>(not bold)</b>",
            None,
            now,
        )
        .await
        .unwrap();
    app.state
        .store
        .record_source_success("合作单位", SourceType::Feed, 12, None, now - 600_000)
        .await
        .unwrap();
    let link = common::admin::add_account(&app, "guan.li@example.org", Role::Admin).await;
    common::admin::add_account(&app, "bian.ji@example.org", Role::Editor).await;

    let (_driver, webdriver) = crate::subscriptions_browser::start_chromedriver().await;
    let (client, _profile) = crate::common::browser::open(&webdriver, "zh-CN").await;
    let fill = |id: &'static str, text: String| {
        let client = client.clone();
        async move {
            let f = client.find(Locator::Id(id)).await.unwrap();
            f.clear().await.unwrap();
            f.send_keys(&text).await.unwrap();
        }
    };
    client.goto(&link).await.unwrap();
    fill("password", PASSWORD.into()).await;
    fill("repeat", PASSWORD.into()).await;
    client
        .find(Locator::Css("button[type=submit].primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("email"))
        .await
        .unwrap();
    fill("email", "guan.li@example.org".into()).await;
    fill("password", PASSWORD.into()).await;
    client
        .find(Locator::Css("button[type=submit].primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("svg.growth"))
        .await
        .unwrap();

    for locale in ["zh-CN", "en"] {
        client
            .goto(&format!("{base}/admin?locale={locale}"))
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Css("svg.growth polyline"))
            .await
            .unwrap();
        shoot(&client, locale, "10-dashboard-chart").await;

        client.goto(&format!("{base}/admin/sources")).await.unwrap();
        shoot(&client, locale, "11-sources").await;
        client
            .find(Locator::Css("table.sources button.secondary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Css("p.notice-ok"))
            .await
            .unwrap();

        client
            .goto(&format!("{base}/admin/settings"))
            .await
            .unwrap();
        fill("f-accent_colour", "teal".into()).await;
        fill("f-logo_url", "ftp://example.org/logo.png".into()).await;
        client
            .find(Locator::Css("form.settings-form button.primary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Css(".invalid"))
            .await
            .unwrap();
        shoot(&client, locale, "12-settings-errors").await;
        fill("f-accent_colour", "#0d5c8c".into()).await;
        fill("f-logo_url", String::new()).await;
        fill("f-title.zh-CN", "青海省总工会 · 职工之家".into()).await;
        fill(
            "f-footer.en",
            "Qinghai Federation of Trade Unions · Xining".into(),
        )
        .await;
        client
            .find(Locator::Css("form.settings-form button.primary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Css("p.notice-ok"))
            .await
            .unwrap();
        shoot(&client, locale, "13-settings-saved").await;

        client
            .goto(&format!("{base}/admin/accounts"))
            .await
            .unwrap();
        fill(
            "person-email",
            format!("new.{}@example.org", locale.to_lowercase()),
        )
        .await;
        client
            .find(Locator::Css("form.person-add button.primary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Id("link"))
            .await
            .unwrap();
        shoot(&client, locale, "14-person-added").await;
        client
            .goto(&format!("{base}/admin/accounts"))
            .await
            .unwrap();
        shoot(&client, locale, "15-accounts-people").await;

        // The public page with the saved branding.
        client
            .goto(&format!("{base}/subscribe?locale={locale}"))
            .await
            .unwrap();
        shoot(&client, locale, "16-public-branded").await;
    }
    client.close().await.unwrap();
}
