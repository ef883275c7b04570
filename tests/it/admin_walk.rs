//! The whole console in one walk through a real browser (headless Chromium through
//! chromedriver), as the federation's web editor would do it on a new install, in zh-CN and
//! in en: the first admin made by the CLI sets a password and logs in, creates a section,
//! publishes an article with an image into it, creates a schedule and reads its next fire
//! times, imports subscribers by uploading a CSV (one bad line shown before anything is
//! stored), runs the schedule now and watches the progress reach done, finds a subscriber by
//! an address prefix typed in capitals and erases them, creates an API token and uses it, and
//! logs out. Every page is saved at 1280 and 390 px as `tests/artifacts/admin-*-walk-*.png`.

use crate::{
    common::{
        self,
        browser::{self, click, fill, wait_path},
    },
    subscriptions_browser::start_chromedriver,
};

use std::{net::TcpListener, process::Command, time::Duration};

use fantoccini::{Client, Locator};
use reqwest::StatusCode;

const PASSWORD: &str = "湟水河畔 walk 2026 spring";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_admin_sets_up_sections_articles_schedules_and_members_and_sends_a_digest() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.site.base_url = base.clone();
    })
    .await
    .unwrap();
    let (_driver, webdriver) = start_chromedriver().await;

    for locale in ["zh-CN", "en"] {
        let tag = if locale == "en" { "en" } else { "zh" };
        let (client, _profile) = browser::open(&webdriver, locale).await;
        let email = format!("walk.{tag}@example.org");

        // 1. The first admin, made on the command line; the link sets the password.
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
        browser::shoot(&client, locale, "walk-01-set-password").await;
        fill(&client, "password", PASSWORD).await;
        fill(&client, "repeat", PASSWORD).await;
        click(&client, "button[type=submit].primary").await;
        wait_path(&client, "/admin/login").await;
        fill(&client, "email", &email).await;
        fill(&client, "password", PASSWORD).await;
        browser::shoot(&client, locale, "walk-02-login").await;
        click(&client, "button[type=submit].primary").await;
        wait_path(&client, "/admin").await;
        client.find(Locator::Css("nav")).await.unwrap();
        let html = source(&client).await;
        assert!(
            html.contains(&format!("lang=\"{locale}\"")),
            "the console speaks {locale}"
        );
        browser::shoot(&client, locale, "walk-03-dashboard").await;

        // 2. A section, with its title in both languages.
        let section = format!("walk-{tag}");
        let section_title = format!("职工书屋 {tag}");
        client
            .goto(&format!("{base}/admin/sections/new"))
            .await
            .unwrap();
        fill(&client, "s-slug", &section).await;
        fill(&client, "s-title-zh", &section_title).await;
        fill(&client, "s-desc-zh", "读书活动与职工书屋建设").await;
        fill(&client, "s-title-en", &format!("Workers' library {tag}")).await;
        fill(
            &client,
            "s-desc-en",
            "Reading events and the workers' libraries",
        )
        .await;
        browser::shoot(&client, locale, "walk-04-section-form").await;
        click(&client, "main form button[type=submit].primary").await;
        wait_path(&client, "/admin/sections?").await;
        assert!(source(&client).await.contains(&section_title));
        browser::shoot(&client, locale, "walk-05-sections").await;

        // 3. An article with an image, in Markdown, into that section.
        let article = format!("walk-article-{tag}");
        let title = format!("全省职工读书月启动 <{tag}>");
        client
            .goto(&format!("{base}/admin/articles/new"))
            .await
            .unwrap();
        fill(&client, "a-id", &article).await;
        client
            .find(Locator::Css(&format!(
                "#a-section option[value='{section}']"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        fill(&client, "a-title", &title).await;
        fill(
            &client,
            "a-body",
            "省总工会今天启动**全省职工读书月**活动。\n\n- 各地职工书屋开放\n- 读书分享会",
        )
        .await;
        fill(
            &client,
            "a-url",
            &format!("https://www.qhgh.example.org/news/{article}.html"),
        )
        .await;
        fill(
            &client,
            "a-image",
            "https://www.qhgh.example.org/images/reading-month.jpg",
        )
        .await;
        fill(&client, "a-caption", "读书月启动仪式现场").await;
        fill(&client, "a-tags", "读书月, 职工书屋").await;
        fill(&client, "a-author", "宣传教育部").await;
        browser::shoot(&client, locale, "walk-06-article-form").await;
        click(&client, ".article-form button[type=submit].primary").await;
        // The form's own path also starts with /admin/articles: wait for the saved page.
        wait_saved(&client).await;
        let html = source(&client).await;
        assert!(
            html.contains(&format!("全省职工读书月启动 &lt;{tag}&gt;")),
            "the article's title, escaped"
        );
        browser::shoot(&client, locale, "walk-07-article-saved").await;
        // It is in the section's feed, with its image.
        let feed = app
            .client
            .get(app.url(&format!("/feeds/{section}.rss")))
            .send()
            .await
            .unwrap();
        assert_eq!(feed.status(), StatusCode::OK);
        let feed = feed.text().await.unwrap();
        assert!(feed.contains("全省职工读书月启动"), "{feed}");
        assert!(feed.contains("reading-month.jpg"), "{feed}");

        // 4. A schedule, and its next fire times.
        let schedule = format!("walk-{tag}");
        client
            .goto(&format!("{base}/admin/schedules/new"))
            .await
            .unwrap();
        fill(&client, "f-slug", &schedule).await;
        fill(&client, "f-name", &format!("读书月早报 {tag}")).await;
        fill(&client, "f-cron", "0 7 * * *").await;
        fill(&client, "f-timezone", "Asia/Shanghai").await;
        click(&client, "form.stack button[type=submit].primary").await;
        wait_path(&client, "/admin/schedules?").await;
        let html = source(&client).await;
        assert!(html.contains(&format!("读书月早报 {tag}")));
        let description = if locale == "en" {
            "every day at 07:00"
        } else {
            "每天 07:00"
        };
        assert!(html.contains(description), "the cron read aloud: {html}");
        assert!(
            html.matches(" 07:00").count() >= 5,
            "five next fire times at 07:00 local"
        );
        assert!(html.contains("23:00"), "and the same instants in UTC");
        browser::shoot(&client, locale, "walk-08-schedules").await;

        // 5. Members by CSV upload: line 3 is not an address and is shown, not stored.
        let csv = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        std::fs::write(
            csv.path(),
            format!(
                "email,sections,schedule\n\
                 Zhang.Wei.{tag}@example.org,{section},{schedule}\n\
                 not-an-address,{section},{schedule}\n\
                 li.na.{tag}@example.org,{section},{schedule}\n"
            ),
        )
        .unwrap();
        client
            .goto(&format!("{base}/admin/subscribers/import"))
            .await
            .unwrap();
        client
            .find(Locator::Id("file"))
            .await
            .unwrap()
            .send_keys(&csv.path().display().to_string())
            .await
            .unwrap();
        browser::shoot(&client, locale, "walk-09-import-upload").await;
        click(&client, "form[enctype] button[type=submit].primary").await;
        wait_path(&client, "/admin/subscribers/import/").await;
        let rejected = client
            .find_all(Locator::Css("tr.subs-rejected td.num"))
            .await
            .unwrap();
        assert_eq!(rejected.len(), 1, "one rejected line");
        assert_eq!(
            rejected[0].text().await.unwrap(),
            "3",
            "line 3 is the bad one"
        );
        let stored = app
            .client
            .get(app.url("/api/v1/subscribers?limit=1000"))
            .bearer_auth(common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !stored.contains(&format!("li.na.{tag}@example.org")),
            "nothing stored before the import is confirmed"
        );
        browser::shoot(&client, locale, "walk-10-import-preview").await;
        click(&client, "input[name=consent]").await;
        click(&client, "form:not([enctype]) button[type=submit].primary").await;
        // The report replaces the preview (its consent box is gone): 2 added.
        let mut report = String::new();
        for _ in 0..200 {
            if client
                .find(Locator::Css("input[name=consent]"))
                .await
                .is_err()
            {
                report = source(&client).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!report.is_empty(), "the import was not committed");
        let created = client
            .find(Locator::Css("li.figure.status-active .n"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(created, "2", "two members added");
        browser::shoot(&client, locale, "walk-11-imported").await;

        // The newsroom's script publishes a notice after the members joined: their first
        // digest has something new in it.
        app.clock.advance(chrono::Duration::minutes(5));
        let r = app
            .put_article(
                &format!("walk-notice-{tag}"),
                &serde_json::json!({
                    "section": section,
                    "title": "关于开展职工读书分享会的通知",
                    "url": format!("https://www.qhgh.example.org/notices/walk-{tag}.html"),
                    "content_html": "<p>请各基层工会于本月底前报送读书分享会安排。</p>",
                    "published_at": app.clock.now().to_rfc3339(),
                }),
            )
            .await;
        assert!(r.status().is_success());

        // 6. Run the schedule now, and watch it reach done without reloading.
        client
            .goto(&format!("{base}/admin/schedules/{schedule}/run"))
            .await
            .unwrap();
        let html = source(&client).await;
        let recipients = if locale == "en" {
            "digest to 2 subscribers now"
        } else {
            "这会立即给 2 位订阅者发送"
        };
        assert!(
            html.contains(recipients),
            "two subscribers would get it: {html}"
        );
        browser::shoot(&client, locale, "walk-12-run-confirm").await;
        click(&client, "main form button[type=submit]").await;
        wait_path(&client, "/admin/runs/").await;
        client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("[data-run-status].run-done"))
            .await
            .expect("the run reaches done on the page");
        browser::shoot(&client, locale, "walk-13-run-done").await;
        let sent = std::fs::read_dir(app.dir.path().join("outbox"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .filter(|m| m.contains(&format!("li.na.{tag}@example.org")))
            .count();
        assert_eq!(sent, 1, "li.na got the digest once");

        // 7. Find a member by a prefix in capitals; erase them.
        client
            .goto(&format!("{base}/admin/subscribers"))
            .await
            .unwrap();
        fill(&client, "q", &format!("ZHANG.WEI.{}", tag.to_uppercase())).await;
        click(&client, "form.subs-filters button[type=submit]").await;
        wait_path(&client, "/admin/subscribers?").await;
        let person = format!("zhang.wei.{tag}@example.org");
        assert!(source(&client).await.to_lowercase().contains(&person));
        browser::shoot(&client, locale, "walk-14-subscriber-search").await;
        click(&client, "a[href*='/admin/subscribers/']:not([href*='new']):not([href*='import']):not([href*='export'])").await;
        wait_path(&client, "/admin/subscribers/").await;
        assert!(source(&client).await.to_lowercase().contains(&person));
        browser::shoot(&client, locale, "walk-15-subscriber").await;
        click(&client, "a.danger-link").await;
        wait_path(&client, "/admin/subscribers/").await;
        browser::shoot(&client, locale, "walk-16-erase-confirm").await;
        click(&client, "main form button[type=submit].primary").await;
        wait_path(&client, "/admin/subscribers?done=erased").await;
        browser::shoot(&client, locale, "walk-17-erased").await;
        let stored = app
            .client
            .get(app.url("/api/v1/subscribers?limit=1000"))
            .bearer_auth(common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!stored.to_lowercase().contains(&person), "erased: {stored}");
        assert!(stored.contains(&format!("li.na.{tag}@example.org")));

        // 8. An API token, used by a script.
        client
            .goto(&format!("{base}/admin/accounts"))
            .await
            .unwrap();
        fill(&client, "token-name", &format!("newsroom {tag}")).await;
        click(&client, "form.grid-form button.primary").await;
        let token = client
            .wait()
            .for_element(Locator::Id("token"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .expect("the token, shown once");
        browser::shoot(&client, locale, "walk-18-token").await;
        let r = app
            .client
            .get(app.url(&format!("/api/v1/articles/{article}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the new token works");

        // 9. Log out: the console is closed again.
        click(&client, "header form.inline button").await;
        wait_path(&client, "/admin/login").await;
        browser::shoot(&client, locale, "walk-19-logged-out").await;
        client.goto(&format!("{base}/admin/runs")).await.unwrap();
        wait_path(&client, "/admin/login").await;
        client.close().await.unwrap();
    }
}

async fn source(client: &Client) -> String {
    client.source().await.unwrap()
}

/// Waits until the browser is on a page that a save redirected to (`?saved=…`).
async fn wait_saved(client: &fantoccini::Client) {
    for _ in 0..200 {
        let url = client.current_url().await.unwrap();
        if url.query().is_some_and(|q| q.contains("saved=")) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "no saved page after the article form: {}",
        client.current_url().await.unwrap()
    );
}
