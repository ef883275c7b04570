//! The admin side of subscribers: listing, CSV export and import (API and CLI), erasure.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tidings::{clock::to_ms, domain::SubscriberStatus};

async fn import(app: &common::TestApp, csv: &str) -> (StatusCode, Value) {
    let r = app.import_subscribers(csv).await;
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &common::TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

on_both_backends! {
    async fn an_import_keeps_good_rows_active_and_reports_bad_ones_by_line(app) {
        let csv = "email,sections,schedule\n\
                   zhang@example.org,news notices,weekly\n\
                   not-an-email,,daily\n\
                   li@工会.中国,,\n\
                   wang@example.org,news nope,daily\n\
                   zhao@example.org,,monthly\n";
        let (status, report) = import(&app, csv).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!((report["created"].clone(), report["updated"].clone()), (json!(2), json!(0)), "{report}");
        let errors: Vec<(u64, String)> = report["errors"].as_array().unwrap().iter()
            .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str().unwrap().to_owned())).collect();
        assert_eq!(errors, [(3, "email".into()), (5, "sections".into()), (6, "schedule".into())]);

        let z = app.state.store.subscriber_by_email("zhang@example.org").await.unwrap().unwrap();
        assert_eq!(z.status, SubscriberStatus::Active);
        assert_eq!(z.confirmed_at, Some(to_ms(app.clock.now())), "counts as confirmed at import");
        assert_eq!((z.sections, z.schedule.as_str(), z.source.as_str()), (vec!["news".to_owned(), "notices".to_owned()], "weekly", "import"));
        let l = app.state.store.subscriber_by_email("li@xn--6oq837a.xn--fiqs8s").await.unwrap().unwrap();
        assert!(l.all_sections);
        assert_eq!(l.schedule, "daily");
        assert_eq!(app.state.store.count_subscribers(None).await.unwrap(), 2);
    }

    async fn an_import_never_resubscribes_someone_who_unsubscribed(app) {
        import(&app, "email,sections,schedule\nli@example.org,,daily\n").await;
        let s = app.state.store.subscriber_by_email("li@example.org").await.unwrap().unwrap();
        app.state.store.unsubscribe(s.id, s.generation, 0).await.unwrap();
        let (status, report) = import(&app, "email,sections,schedule\nli@example.org,,weekly\n").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["skipped"][0]["line"], 2, "{report}");
        let s = app.state.store.subscriber_by_email("li@example.org").await.unwrap().unwrap();
        assert_eq!((s.status, s.schedule.as_str()), (SubscriberStatus::Unsubscribed, "daily"));
    }

    async fn an_import_without_the_required_header_is_422_and_stores_nothing(app) {
        let (status, answer) = import(&app, "mail,sections\nli@example.org,news\n").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["field"], "header");
        let r = app.client.post(app.url("/api/v1/subscribers/import")).bearer_auth(common::ADMIN_TOKEN)
            .header("content-type", "application/json").body("{}").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.state.store.count_subscribers(None).await.unwrap(), 0);
    }

    async fn the_list_filters_by_status_and_pages_with_a_cursor(app) {
        let rows: String = (0..5).map(|i| format!("p{i}@example.org,,\n")).collect();
        import(&app, &format!("email,sections,schedule\n{rows}")).await;
        let s = app.state.store.subscriber_by_email("p1@example.org").await.unwrap().unwrap();
        app.state.store.unsubscribe(s.id, s.generation, 0).await.unwrap();

        let first: Value = get(&app, "/api/v1/subscribers?status=active&limit=3").await.json().await.unwrap();
        let emails = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(emails(&first), ["p0@example.org", "p2@example.org", "p3@example.org"]);
        assert_eq!(first["items"][0]["status"], "active");
        assert_eq!(first["items"][0]["schedule"], "daily");
        let cursor = first["next_cursor"].as_str().unwrap();
        let second: Value = get(&app, &format!("/api/v1/subscribers?status=active&limit=3&cursor={cursor}")).await.json().await.unwrap();
        assert_eq!(emails(&second), ["p4@example.org"]);
        assert_eq!(second["next_cursor"], Value::Null);

        for bad in ["?status=gone", "?limit=0", "?limit=1001", "?cursor=zzz", "?sort=email"] {
            assert_eq!(get(&app, &format!("/api/v1/subscribers{bad}")).await.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    async fn an_export_is_csv_that_imports_again(app) {
        import(&app, "email,sections,schedule\nli@example.org,news grassroots,weekly\nwang@example.org,,daily\n").await;
        let r = get(&app, "/api/v1/subscribers/export").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = r.text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "email,sections,schedule,status,locale,created_at,confirmed_at");
        assert!(lines[1].starts_with("li@example.org,grassroots news,weekly,active,zh-CN,2026-03-01T00:00:00Z"), "{csv}");
        assert_eq!(lines.len(), 3);

        let other = common::try_spawn_app(app.backend).await.unwrap();
        let (status, report) = import(&other, &csv).await;
        assert_eq!((status, report["created"].clone()), (StatusCode::OK, json!(2)), "{report}");
        let li = other.state.store.subscriber_by_email("li@example.org").await.unwrap().unwrap();
        assert_eq!((li.sections, li.schedule), (vec!["grassroots".to_owned(), "news".to_owned()], "weekly".to_owned()));
    }

    async fn an_address_that_looks_like_a_formula_is_exported_as_text_and_imports_again(app) {
        // Legal addresses (RFC 5322 atext) that a spreadsheet would run as formulas.
        let (status, report) = import(&app, "email,sections,schedule\n=1+2@example.org,,daily\n-x@example.org,,daily\n+y@example.org,,daily\n").await;
        assert_eq!((status, report["created"].clone()), (StatusCode::OK, json!(3)), "{report}");
        let csv = get(&app, "/api/v1/subscribers/export").await.text().await.unwrap();
        let firsts: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(firsts.len(), 3, "{csv}");
        for cell in &firsts {
            assert!(cell.starts_with('\''), "a cell a spreadsheet would run: {cell}\n{csv}");
        }
        let other = common::try_spawn_app(app.backend).await.unwrap();
        let (status, report) = import(&other, &csv).await;
        assert_eq!((status, report["created"].clone()), (StatusCode::OK, json!(3)), "{report}");
        for e in ["=1+2@example.org", "-x@example.org", "+y@example.org"] {
            assert!(other.state.store.subscriber_by_email(e).await.unwrap().is_some(), "{e} did not come back as itself");
        }
    }

    async fn erasing_a_subscriber_removes_the_person_and_every_token(app) {
        import(&app, "email,sections,schedule\nLi@Example.org,news,daily\n").await;
        let s = app.state.store.subscriber_by_email("Li@example.org").await.unwrap().unwrap();
        tidings::subscriptions::links::issue_subscriber_links(&app.state.store, "http://x.test", &[(s.id, s.generation, "zh-CN")], 0).await.unwrap();
        assert_eq!(app.state.store.count_tokens(s.id).await.unwrap(), 1);

        let del = |email: &'static str| app.client.delete(app.url(&format!("/api/v1/subscribers/{}", common::urlencode(email))))
            .bearer_auth(common::ADMIN_TOKEN).send();
        assert_eq!(del("Li@EXAMPLE.org ").await.unwrap().status(), StatusCode::NO_CONTENT);
        assert!(app.state.store.subscriber_by_email("Li@example.org").await.unwrap().is_none());
        assert_eq!(app.state.store.count_tokens(s.id).await.unwrap(), 0);
        assert_eq!(del("Li@example.org").await.unwrap().status(), StatusCode::NOT_FOUND);
        assert_eq!(del("not an address").await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn every_subscriber_endpoint_needs_the_admin_token(app) {
        let cases = [
            app.client.get(app.url("/api/v1/subscribers")),
            app.client.get(app.url("/api/v1/subscribers/export")),
            app.client.post(app.url("/api/v1/subscribers/import")).body("email,sections,schedule\na@b.cn,,\n"),
            app.client.delete(app.url("/api/v1/subscribers/a@b.cn")),
        ];
        for req in cases {
            let r = req.bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "a valid token without the role");
        }
        assert_eq!(app.state.store.count_subscribers(None).await.unwrap(), 0);
    }
}

#[test]
fn the_cli_imports_a_file_reports_bad_lines_and_exits_non_zero_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let file = dir.path().join("members.csv");
    let mut csv = String::from("\u{feff}email,sections,schedule\n");
    for i in 0..1200 {
        csv.push_str(&format!("m{i}@example.org,news,weekly\n"));
    }
    csv.push_str("broken,news,weekly\n");
    std::fs::write(&file, csv).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["subscribers", "import"])
        .arg(&file)
        .env(
            "TIDINGS_DATABASE__URL",
            format!("sqlite://{}", db.display()),
        )
        .env("TIDINGS_SITE__TEMPLATES_DIR", "config/templates")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "one row was refused");
    assert!(
        stdout.contains("1200 created, 0 updated, 0 skipped"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("line 1202 [email]"), "{stderr}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = rt.block_on(async {
        let store = tidings::store::Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store
            .count_subscribers(Some(SubscriberStatus::Active))
            .await
            .unwrap()
    });
    assert_eq!(count, 1200);
}
