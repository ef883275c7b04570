//! Schedule names per locale (`names`), kinds and first mails: stored from the config and the
//! API, kept when only `name` changes, edited in the console, listed by the CLI, and
//! refused by key or field when wrong.

use crate::common;

use std::process::Command;

use common::admin::signed_in;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tidings::{config::Config, domain::Role};

use crate::digest_instant::{get_schedule, put_schedule};

/// What pages and mail in `locale` call schedule `slug`, by the [`DisplayNames`] rule.
async fn shown(app: &common::TestApp, slug: &str, locale: &str) -> String {
    let names = app.state.store.display_names("zh-CN").await.unwrap();
    let s = app.state.store.get_schedule(slug).await.unwrap().unwrap();
    names.schedule(slug, locale, &s.name, None)
}

on_both_backends! {
    async fn configured_schedules_start_with_their_names_in_each_language(app) {
        let daily = get_schedule(&app, "daily", "en").await;
        assert_eq!(daily["names"], json!({"zh-CN": "每日摘要", "en": "Daily digest"}), "{daily}");
        assert_eq!(shown(&app, "daily", "en").await, "Daily digest");
        assert_eq!(shown(&app, "weekly", "en").await, "Weekly digest");
    }

    async fn a_put_with_only_name_keeps_the_other_languages_names(app) {
        let r = put_schedule(&app, "weekly", json!({"name": "周报", "cron": "0 9 * * 1",
            "names": {"zh-CN": "周报", "en": "Weekly roundup"}})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["name"].as_str(), body["names"]["en"].as_str()), (Some("周报"), Some("Weekly roundup")), "{body}");

        // Renamed in the site's language only: English keeps its name; pages and mail follow.
        let r = put_schedule(&app, "weekly", json!({"name": "每周精选", "cron": "0 9 * * 1"})).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["names"], json!({"zh-CN": "每周精选", "en": "Weekly roundup"}), "{body}");
        assert_eq!(shown(&app, "weekly", "zh-CN").await, "每周精选");
        assert_eq!(shown(&app, "weekly", "en").await, "Weekly roundup");

        // `names` given: it replaces them; an empty text removes that language's.
        let r = put_schedule(&app, "weekly", json!({"cron": "0 9 * * 1", "names": {"zh-CN": "每周", "en": " "}})).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["names"], json!({"zh-CN": "每周"}), "{body}");
        assert_eq!(body["name"], "每周");

        // A new schedule with names; deleted and made again, it starts without them.
        put_schedule(&app, "alerts", json!({"kind": "instant", "window": "15m", "names": {"zh-CN": "快讯", "en": "Alerts"}})).await;
        assert_eq!(get_schedule(&app, "alerts", "en").await["names"]["en"], "Alerts");
        let r = app.client.delete(app.url("/api/v1/schedules/alerts")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = put_schedule(&app, "alerts", json!({"name": "快讯", "kind": "instant", "window": "15m"})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.json::<Value>().await.unwrap()["names"], json!({"zh-CN": "快讯"}));
    }

    async fn bad_names_are_refused_by_field(app) {
        for (body, field) in [
            (json!({"name": "x", "cron": "0 8 * * *", "names": {"fr": "Quotidien"}}), "names"),
            (json!({"name": "x", "cron": "0 8 * * *", "names": {"zh-CN": "y"}}), "name"),
            (json!({"name": "x", "cron": "0 8 * * *", "names": {"en": "z".repeat(201)}}), "names[\"en\"]"),
            (json!({"cron": "0 8 * * *", "names": {"en": "English only"}}), "name"),
            (json!({"name": "x", "cron": "0 8 * * *", "names": ["x"]}), "names"),
        ] {
            let r = put_schedule(&app, "bad", body.clone()).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["field"], field, "{body}: {answer}");
        }
        assert!(app.state.store.get_schedule("bad").await.unwrap().is_none());
        assert!(!app.state.store.schedule_texts().await.unwrap().contains_key("bad"));
    }

    async fn the_console_form_edits_the_other_languages_name_the_kind_and_the_first_mail(app) {
        let admin = signed_in(&app, "admin@example.com", Role::Admin).await;
        let form = admin.page("/admin/schedules/daily/edit", StatusCode::OK).await;
        assert!(form.contains("英文名称") && form.contains("value=\"Daily digest\""), "{form}");

        let from = "/admin/schedules/new";
        let bad = [("slug", "alerts"), ("name", "快讯"), ("other_name", "Alerts"), ("kind", "instant"),
            ("window", "5s"), ("cron", "0 8 * * *"), ("timezone", ""), ("max_articles", "20"),
            ("first_digest_articles", "3"), ("enabled", "on")];
        let r = admin.post("/admin/schedules", from, &bad).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        assert!(page.contains("f-window-error") && page.contains("无法使用这个时间窗口"), "{page}");
        assert!(page.contains("value=\"Alerts\""), "what was typed stays");

        let mut good = bad;
        good[4] = ("window", "10m");
        let r = admin.post("/admin/schedules", from, &good).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
        let alerts = get_schedule(&app, "alerts", "en").await;
        assert_eq!((alerts["kind"].as_str(), alerts["window"].as_str(), alerts["cron"].as_str()), (Some("instant"), Some("10m"), None), "{alerts}");
        assert_eq!(alerts["names"], json!({"zh-CN": "快讯", "en": "Alerts"}));
        let list = admin.page("/admin/schedules", StatusCode::OK).await;
        assert!(list.contains("有新文章发布后 10 分钟内发送") && list.contains("即时"), "{list}");

        // Emptying the English name removes it; the first mail's count is saved.
        let edit = [("name", "快讯"), ("other_name", ""), ("kind", "instant"), ("window", "10m"),
            ("cron", ""), ("timezone", "Asia/Shanghai"), ("max_articles", "20"), ("first_digest_articles", "0"), ("enabled", "on")];
        let r = admin.post("/admin/schedules/alerts", "/admin/schedules/alerts/edit", &edit).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let alerts = get_schedule(&app, "alerts", "en").await;
        assert_eq!((alerts["names"].clone(), alerts["first_digest_articles"].as_i64()), (json!({"zh-CN": "快讯"}), Some(0)));
    }
}

fn config_err(toml: &str) -> String {
    format!("{:#}", Config::from_toml_str(toml).expect_err(toml))
}

#[test]
fn schedule_kinds_windows_and_names_in_the_config_are_checked_by_key() {
    let entry = |rest: &str| format!("[[schedules]]\nslug = \"s\"\nname = \"S\"\n{rest}");
    for (rest, key) in [
        ("kind = \"instant\"", "schedules[0].window"),
        (
            "kind = \"instant\"\nwindow = \"10s\"",
            "schedules[0].window",
        ),
        (
            "kind = \"instant\"\nwindow = \"10m\"\ncron = \"0 8 * * *\"",
            "schedules[0].cron",
        ),
        (
            "cron = \"0 8 * * *\"\nwindow = \"10m\"",
            "schedules[0].window",
        ),
        (
            "kind = \"hourly\"\ncron = \"0 8 * * *\"",
            "schedules[0].kind",
        ),
        ("", "schedules[0].cron"),
        (
            "cron = \"0 8 * * *\"\nfirst_digest_articles = 51",
            "schedules[0].first_digest_articles",
        ),
        (
            "cron = \"0 8 * * *\"\nnames = { fr = \"Quotidien\" }",
            "schedules[0].names",
        ),
        (
            "cron = \"0 8 * * *\"\nnames = { en = \"\" }",
            "schedules[0].names.en",
        ),
        (
            "cron = \"0 8 * * *\"\nnames = { zh-CN = \"别的\" }",
            "schedules[0].names.zh-CN",
        ),
    ] {
        let e = config_err(&entry(rest));
        assert!(e.starts_with(key), "{rest:?}: {e}");
    }
    let ok =
        entry("kind = \"instant\"\nwindow = \"10m\"\nnames = { zh-CN = \"S\", en = \"Alerts\" }");
    let c = Config::from_toml_str(&ok).unwrap();
    let (_, fields) = &c.schedule_seeds()[0];
    assert_eq!(fields.window.unwrap().seconds(), 600);
    assert_eq!(
        fields.names.as_ref().unwrap().len(),
        1,
        "the site language's name is `name`"
    );
}

#[test]
fn schedules_list_shows_kinds_windows_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tidings.toml");
    std::fs::write(
        &config,
        "sources = []\n\
         [[schedules]]\nslug = \"daily\"\nname = \"每日摘要\"\ncron = \"0 8 * * *\"\nnames = { en = \"Daily digest\" }\n\
         [[schedules]]\nslug = \"alerts\"\nname = \"快讯\"\nkind = \"instant\"\nwindow = \"10m\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "TIDINGS_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .args(["--config", config.to_str().unwrap(), "schedules", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |slug: &str| {
        list.lines()
            .find(|l| l.starts_with(slug))
            .unwrap_or_else(|| panic!("{slug} missing: {list}"))
            .to_owned()
    };
    let alerts = line("alerts");
    assert!(
        alerts.contains("instant") && alerts.contains("10m") && alerts.contains("快讯"),
        "{alerts}"
    );
    let daily = line("daily");
    assert!(
        daily.contains("digest")
            && daily.contains("0 8 * * *")
            && daily.contains("en: Daily digest"),
        "{daily}"
    );
}
