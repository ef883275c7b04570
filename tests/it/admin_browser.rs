//! The admin console in a real browser (headless Chromium through chromedriver): the first
//! admin is made with `tidings admin add`, sets a password through the link, logs in, sees
//! the dashboard, makes an API token and uses it, reads the audit log and logs out, in
//! zh-CN and in en. Each page is saved at 1280 and 390 px wide in `tests/artifacts/`.

use crate::{
    common::{
        self,
        browser::{fill, shoot},
    },
    subscriptions_browser::start_chromedriver,
};

use std::{net::TcpListener, process::Command};

use fantoccini::{Client, Locator};
use reqwest::StatusCode;

const PASSWORD: &str = "湟水河畔 spring 2026";

async fn heading(client: &Client) -> String {
    client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn submit(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for_heading(client: &Client, text: &str) {
    client
        .wait()
        .for_element(Locator::XPath(&format!("//h1[text()='{text}']")))
        .await
        .unwrap_or_else(|e| panic!("no page titled {text}: {e}"));
}

/// Strings the walk looks for, per locale.
struct Words {
    password: &'static str,
    login: &'static str,
    dashboard: &'static str,
    accounts: &'static str,
    created: &'static str,
    audit: &'static str,
    logged_out: &'static str,
}

const ZH: Words = Words {
    password: "设置密码",
    login: "登录",
    dashboard: "概览",
    accounts: "账号与令牌",
    created: "令牌已创建",
    audit: "操作日志",
    logged_out: "您已退出登录。",
};

const EN: Words = Words {
    password: "Set your password",
    login: "Log in",
    dashboard: "Dashboard",
    accounts: "Accounts & tokens",
    created: "Token created",
    audit: "Audit log",
    logged_out: "You are logged out.",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_a_password_logs_in_makes_a_token_and_logs_out_in_a_real_browser() {
    // The browser's Origin must be the site's: serve on a port chosen first.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.site.base_url = base.clone();
        // A feed source that cannot be reached, to show in red on the dashboard.
        c.sources = vec![toml::from_str(
            "kind = \"feed\"\nname = \"省政府网站\"\nsection = \"news\"\nurl = \"http://127.0.0.1:9/rss.xml\"\ninterval = \"1h\"",
        )
        .unwrap()];
    })
    .await
    .unwrap();
    let import = "email,sections,schedule\nli.lei@example.org,news,daily\nwang.fang@example.org,,daily\nzhao.min@example.org,notices,weekly\n";
    let r = app
        .client
        .post(app.url("/api/v1/subscribers/import"))
        .bearer_auth(common::ADMIN_TOKEN)
        .body(import)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = app
        .put_article(
            "chart",
            &common::article("news", "省总工会召开“职工之家”建设推进会 <现场>"),
        )
        .await;
    assert!(r.status().is_success());
    let r = app
        .client
        .post(app.url("/api/v1/schedules/daily/run"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    app.state
        .store
        .record_source_error(
            "省政府网站",
            tidings::domain::SourceType::Feed,
            "GET http://127.0.0.1:9/rss.xml: connection refused",
            None,
            tidings::clock::to_ms(app.clock.now()),
        )
        .await
        .unwrap();

    let (_driver, webdriver) = start_chromedriver().await;
    for (locale, words) in [("zh-CN", &ZH), ("en", &EN)] {
        let (client, _profile) = crate::common::browser::open(&webdriver, locale).await;
        let email = format!("admin.{locale}@example.org").to_lowercase();

        // The first admin, made on the command line.
        let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["admin", "add", &email])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env(
                "TIDINGS_CONFIG",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/no-sources.toml"),
            )
            .env("TIDINGS_DATABASE__URL", &app.database_url)
            .env("TIDINGS_SITE__BASE_URL", &base)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let link = stdout
            .lines()
            .find(|l| l.starts_with(&base))
            .expect("a link")
            .to_owned();

        client
            .goto(&format!("{link}&locale={locale}"))
            .await
            .unwrap();
        assert_eq!(heading(&client).await, words.password);
        shoot(&client, locale, "01-set-password").await;
        fill(&client, "password", "1234567890").await;
        fill(&client, "repeat", "1234567890").await;
        submit(&client, "button[type=submit].primary").await;
        client
            .wait()
            .for_element(Locator::Css("p.error"))
            .await
            .unwrap();
        shoot(&client, locale, "02-set-password-refused").await;
        fill(&client, "password", PASSWORD).await;
        fill(&client, "repeat", PASSWORD).await;
        submit(&client, "button[type=submit].primary").await;

        wait_for_heading(&client, words.login).await;
        shoot(&client, locale, "03-login").await;
        fill(&client, "email", &email).await;
        fill(&client, "password", "not my password").await;
        submit(&client, "button[type=submit].primary").await;
        client
            .wait()
            .for_element(Locator::Css("p.error"))
            .await
            .unwrap();
        shoot(&client, locale, "04-login-wrong").await;
        fill(&client, "password", PASSWORD).await;
        submit(&client, "button[type=submit].primary").await;

        wait_for_heading(&client, words.dashboard).await;
        let html = client.source().await.unwrap();
        assert!(html.contains("&lt;现场&gt;"), "titles are escaped");
        shoot(&client, locale, "05-dashboard").await;

        client
            .find(Locator::LinkText(words.accounts))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&client, words.accounts).await;
        shoot(&client, locale, "06-accounts").await;
        fill(&client, "token-name", "新闻稿脚本 newsroom").await;
        client
            .find(Locator::Css("#token-role option[value=editor]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        submit(&client, "form.grid-form button.primary").await;
        wait_for_heading(&client, words.created).await;
        let token = client
            .find(Locator::Id("token"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .expect("the token");
        shoot(&client, locale, "07-token-created").await;

        // The token works for articles, and not for the admin API.
        let r = app
            .client
            .get(app.url("/api/v1/articles"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .client
            .get(app.url("/api/v1/schedules"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        client
            .goto(&format!("{base}/admin/accounts"))
            .await
            .unwrap();
        wait_for_heading(&client, words.accounts).await;
        shoot(&client, locale, "08-accounts-with-token").await;
        client
            .find(Locator::LinkText(words.audit))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&client, words.audit).await;
        shoot(&client, locale, "09-audit").await;

        submit(&client, "header form.inline button").await;
        wait_for_heading(&client, words.login).await;
        let done = client
            .find(Locator::Css("p.ok"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(done, words.logged_out);
        shoot(&client, locale, "10-logged-out").await;
        client.goto(&format!("{base}/admin")).await.unwrap();
        wait_for_heading(&client, words.login).await;
        client.close().await.unwrap();
    }
}
