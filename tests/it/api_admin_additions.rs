//! The admin API additions of the console (issue 12): one schedule by slug, schedules read in
//! the request's language with their next fire instants, one section by slug and its deletion,
//! 404s that list the valid slugs, and bearer tokens long enough to be secret.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::feeds::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tidings::config::SourceConfig;

const WAIT: Duration = Duration::from_secs(5);

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// `method path` as the admin, with an optional `Accept-Language`.
async fn admin(
    app: &common::TestApp,
    method: reqwest::Method,
    path: &str,
    language: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(common::ADMIN_TOKEN);
    if let Some(l) = language {
        req = req.header("accept-language", l);
    }
    req.send().await.unwrap()
}

async fn get_json(app: &common::TestApp, path: &str, language: Option<&str>) -> Value {
    let r = admin(app, reqwest::Method::GET, path, language).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

async fn put_schedule(app: &common::TestApp, slug: &str, body: Value) -> Value {
    let r = app
        .client
        .put(app.url(&format!("/api/v1/schedules/{slug}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .header("accept-language", "en")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "PUT schedule {slug}: {}",
        r.status()
    );
    r.json().await.unwrap()
}

fn instants(schedule: &Value) -> Vec<DateTime<Utc>> {
    schedule["next_fire_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| utc(t.as_str().unwrap()))
        .collect()
}

/// The 404 body of `method path`.
async fn not_found(app: &common::TestApp, method: reqwest::Method, path: &str) -> Value {
    let r = admin(app, method.clone(), path, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
    r.json().await.unwrap()
}

async fn import(app: &common::TestApp, csv: &str) -> Value {
    let r = app.import_subscribers(csv).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

on_both_backends! {
    async fn one_schedule_answers_as_the_list_shows_it(app) {
        let list = get_json(&app, "/api/v1/schedules", None).await;
        let one = get_json(&app, "/api/v1/schedules/weekly", None).await;
        assert_eq!(one, list["items"][1]);
        assert_eq!(one["slug"], "weekly");
        assert_eq!(one["cron"], "0 9 * * 1");
    }

    async fn schedules_are_described_in_the_request_language(app) {
        // Without Accept-Language: site.language (zh-CN).
        let list = get_json(&app, "/api/v1/schedules", None).await;
        assert_eq!(list["items"][0]["description"], "每天 08:00（Asia/Shanghai）");
        assert_eq!(list["items"][1]["description"], "每周一 09:00（Asia/Shanghai）");
        let list = get_json(&app, "/api/v1/schedules", Some("en-GB,en;q=0.9")).await;
        assert_eq!(list["items"][0]["description"], "every day at 08:00 (Asia/Shanghai)");
        assert_eq!(list["items"][1]["description"], "every Monday at 09:00 (Asia/Shanghai)");
        let one = get_json(&app, "/api/v1/schedules/daily", Some("zh-CN")).await;
        assert_eq!(one["description"], "每天 08:00（Asia/Shanghai）");

        // PUT answers with the description too.
        let put = put_schedule(&app, "mornings", json!({"name": "工作日早报", "cron": "30 7 * * 1-5"})).await;
        assert_eq!(put["description"], "Monday to Friday at 07:30 (Asia/Shanghai)");
        let one = get_json(&app, "/api/v1/schedules/mornings", Some("zh-CN")).await;
        assert_eq!(one["description"], "每周一至周五 07:30（Asia/Shanghai）");
        let put = put_schedule(&app, "odd", json!({"name": "x", "cron": "0 8 1-7 * 1"})).await;
        assert_eq!(put["description"], "cron 0 8 1-7 * 1 (Asia/Shanghai)");
    }

    async fn next_fire_at_lists_five_instants_after_the_clock(app) {
        // The clock starts at 2026-03-01T00:00Z, itself a daily fire instant (08:00 Shanghai).
        let daily = get_json(&app, "/api/v1/schedules/daily", None).await;
        let next = instants(&daily);
        assert_eq!(next.len(), 5, "{daily}");
        assert!(next[0] > app.clock.now(), "{daily}");
        assert!(next.windows(2).all(|w| w[0] < w[1]), "{daily}");
        assert_eq!(daily["next_fire_at"][0], "2026-03-02T00:00:00Z");
        assert_eq!(daily["next_fire_at"][4], "2026-03-06T00:00:00Z");

        app.clock.set(utc("2026-03-10T12:00:00Z"));
        let daily = get_json(&app, "/api/v1/schedules/daily", None).await;
        assert_eq!(daily["next_fire_at"][0], "2026-03-11T00:00:00Z");
        // Weekly, Monday 09:00 Shanghai: 2026-03-16 is a Monday.
        let weekly = get_json(&app, "/api/v1/schedules/weekly", None).await;
        assert_eq!(weekly["next_fire_at"][0], "2026-03-16T01:00:00Z");
        assert_eq!(weekly["next_fire_at"][1], "2026-03-23T01:00:00Z");

        // A disabled schedule still says when its cron falls.
        let off = put_schedule(&app, "daily", json!({"name": "每日摘要", "cron": "0 8 * * *", "enabled": false})).await;
        assert_eq!(off["enabled"], false);
        assert_eq!(instants(&off).len(), 5);
    }

    async fn next_fire_at_follows_the_schedule_zone_across_a_dst_change(app) {
        app.clock.set(utc("2026-03-06T12:00:00Z"));
        let ny = put_schedule(&app, "ny", json!({"name": "NY", "cron": "30 2 * * *", "timezone": "America/New_York"})).await;
        assert_eq!(ny["description"], "every day at 02:30 (America/New_York)");
        let next = instants(&ny);
        assert_eq!(next.len(), 5);
        assert!(next.windows(2).all(|w| w[0] < w[1]), "{ny}");
        let days: Vec<String> = next.iter()
            .map(|t| t.with_timezone(&chrono_tz::America::New_York).format("%F").to_string())
            .collect();
        assert_eq!(days, ["2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10", "2026-03-11"]);
        // 02:30 EST before the change, 02:30 EDT after it.
        assert_eq!(ny["next_fire_at"][0], "2026-03-07T07:30:00Z");
        assert_eq!(ny["next_fire_at"][2], "2026-03-09T06:30:00Z");
    }

    async fn an_unknown_schedule_answers_404_listing_the_schedules(app) {
        let want = json!({"error": "no schedule \"dialy\"; schedules: daily, weekly", "field": "slug"});
        use reqwest::Method;
        for (method, path) in [
            (Method::GET, "/api/v1/schedules/dialy"),
            (Method::DELETE, "/api/v1/schedules/dialy"),
            (Method::POST, "/api/v1/schedules/dialy/run"),
            (Method::GET, "/api/v1/schedules/dialy/preview?email=a@example.org"),
        ] {
            assert_eq!(not_found(&app, method, path).await, want, "{path}");
        }
    }

    async fn one_section_by_slug_and_unknown_ones_list_the_sections(app) {
        let news = get_json(&app, "/api/v1/sections/news", None).await;
        assert_eq!(news, json!({"slug": "news", "title": "工会要闻", "description": "全省工会工作要闻",
            "titles": {"zh-CN": "工会要闻"}, "descriptions": {"zh-CN": "全省工会工作要闻"}}));
        // Publishers read sections as they read the list.
        let r = app.client.get(app.url("/api/v1/sections/notices")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        let want = json!({"error": "no section \"nwes\"; sections: news, notices, grassroots, about", "field": "slug"});
        assert_eq!(not_found(&app, reqwest::Method::GET, "/api/v1/sections/nwes").await, want);
        assert_eq!(not_found(&app, reqwest::Method::DELETE, "/api/v1/sections/nwes").await, want);
    }

    async fn a_section_with_articles_is_kept_until_they_are_deleted(app) {
        for id in ["a1", "a2"] {
            assert_eq!(app.put_article(id, &common::article("about", "工会简介")).await.status(), StatusCode::CREATED);
        }
        let r = admin(&app, reqwest::Method::DELETE, "/api/v1/sections/about", None).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["articles"], 2, "{body}");
        assert_eq!(body["field"], "slug");
        assert!(body["error"].as_str().unwrap().contains("2 articles"), "{body}");
        assert!(app.state.store.get_section("about").await.unwrap().is_some());

        for id in ["a1", "a2"] {
            let r = app.client.delete(app.url(&format!("/api/v1/articles/{id}"))).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NO_CONTENT);
        }
        // The retracted articles' tombstones do not hold the section.
        let r = admin(&app, reqwest::Method::DELETE, "/api/v1/sections/about", None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        not_found(&app, reqwest::Method::GET, "/api/v1/sections/about").await;
        let r = admin(&app, reqwest::Method::DELETE, "/api/v1/sections/about", None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "a second delete finds nothing");
        // An article cannot go to it any more.
        assert_eq!(app.put_article("a3", &common::article("about", "x")).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn a_deleted_section_leaves_the_feeds_and_the_opml(app) {
        let feed = |path: &'static str| {
            let app = &app;
            async move { app.client.get(app.url(path)).send().await.unwrap() }
        };
        assert_eq!(feed("/feeds/about.rss").await.status(), StatusCode::OK);
        assert!(feed("/feeds.opml").await.text().await.unwrap().contains("/feeds/about.atom"));

        let r = admin(&app, reqwest::Method::DELETE, "/api/v1/sections/about", None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);

        let gone = eventually(WAIT, || async {
            feed("/feeds/about.rss").await.status() == StatusCode::NOT_FOUND
                && feed("/feeds/about.json").await.status() == StatusCode::NOT_FOUND
                && !feed("/feeds.opml").await.text().await.unwrap().contains("/feeds/about.atom")
        })
        .await;
        assert!(gone, "the deleted section's feeds are still served");
        assert_eq!(feed("/feeds/news.rss").await.status(), StatusCode::OK);
        assert_eq!(feed("/feeds/all.rss").await.status(), StatusCode::OK);
    }

    async fn a_deleted_section_leaves_subscribers_choices(app) {
        import(&app, "email,sections,schedule\nzhang@example.org,about news,daily\n").await;
        let r = admin(&app, reqwest::Method::DELETE, "/api/v1/sections/about", None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let z = app.state.store.subscriber_by_email("zhang@example.org").await.unwrap().unwrap();
        assert_eq!(z.sections, ["news"]);
        assert!(!z.all_sections);
    }

    async fn an_import_row_with_an_unknown_section_or_schedule_lists_the_valid_ones(app) {
        let report = import(&app, "email,sections,schedule\na@example.org,nwes,daily\nb@example.org,,dialy\n").await;
        let errors = report["errors"].as_array().unwrap();
        assert_eq!(errors[0]["field"], "sections");
        assert_eq!(errors[0]["error"], "unknown section \"nwes\"; sections: news, notices, grassroots, about");
        assert_eq!(errors[1]["field"], "schedule");
        assert_eq!(errors[1]["error"], "unknown schedule \"dialy\"; schedules: daily, weekly");
    }
}

#[tokio::test]
async fn a_section_a_configured_source_writes_to_is_not_deleted() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.sources.push(SourceConfig::Feed {
            name: Some("xinhua".into()),
            section: "notices".into(),
            // Nothing listens there: the source only has to exist.
            url: "http://127.0.0.1:9/rss.xml".into(),
            interval: "10m".into(),
        })
    })
    .await
    .unwrap();
    let r = admin(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/sections/notices",
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"], "xinhua", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("sources[0]"),
        "{body}"
    );
    assert!(
        app.state
            .store
            .get_section("notices")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_deleted_configured_section_stays_deleted_after_a_restart() {
    let keep = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", keep.path().join("t.db").display());
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| c.database.url = url.clone())
        .await
        .unwrap();
    let r = admin(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/sections/about",
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.stop().await;

    let again = tidings::App::build(common::test_config(keep.path(), &url))
        .await
        .unwrap();
    let store = &again.state().store;
    assert!(
        store.get_section("about").await.unwrap().is_none(),
        "the configured [[sections]] brought a deleted section back"
    );
    assert_eq!(store.list_sections().await.unwrap().len(), 3);
    // Creating it again through the API is still possible.
    assert!(store.put_section("about", "工会简介", "", 0).await.unwrap());
}

/// The `tidings` binary with no `TIDINGS_` variables of the test's environment.
fn tidings() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TIDINGS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn check_refuses_an_auth_token_shorter_than_32_characters_by_name() {
    for key in ["ADMIN_TOKEN", "PUBLISHER_TOKEN"] {
        let out = tidings()
            .arg("check")
            .env(format!("TIDINGS_AUTH__{key}"), "change-me")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{key} of 9 characters accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = format!("auth.{}", key.to_ascii_lowercase());
        assert!(stderr.contains(&name), "{stderr}");
        assert!(stderr.contains("at least 32 characters"), "{stderr}");
        assert!(
            !stderr.contains("change-me"),
            "the error shows the token: {stderr}"
        );

        let ok = tidings()
            .arg("check")
            .env(format!("TIDINGS_AUTH__{key}"), "x".repeat(32))
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }
    // The file says the same as the environment; the test harness's tokens pass.
    let e = tidings::config::Config::from_toml_str("[auth]\nadmin_token = \"short\"").unwrap_err();
    assert!(format!("{e:#}").contains("auth.admin_token"), "{e:#}");
    let c = tidings::config::Config::from_toml_str(&format!(
        "[auth]\nadmin_token = \"{}\"\npublisher_token = \"{}\"",
        common::ADMIN_TOKEN,
        common::PUBLISHER_TOKEN
    ));
    assert!(c.is_ok());
}

#[test]
fn serve_refuses_to_start_with_a_short_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tidings()
        .arg("serve")
        .env("TIDINGS_AUTH__ADMIN_TOKEN", "change-me")
        .env(
            "TIDINGS_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("TIDINGS_SERVER__BIND", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started with a 9-character admin token");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("auth.admin_token"), "{stderr}");
    assert!(
        !dir.path().join("t.db").exists(),
        "it opened the database before refusing"
    );
}
