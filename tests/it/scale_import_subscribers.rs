//! Subscriber CSV import in batches (issue 15: `COPY` into a staging table and set-based merges
//! on PostgreSQL, row by row on SQLite), on both backends: each row is reported and stored as
//! the row-by-row import did it (file order; an address given twice is created, then updated,
//! and keeps its last row's choices; people who unsubscribed or bounced are left alone), in a
//! file bigger than a batch too, and an import of the same file again changes nothing.

use crate::common;

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tidings::{
    clock::to_ms,
    domain::Subscriber,
    subscriptions::import::{ImportRules, import_csv},
};

/// Imports `csv` through `POST /api/v1/subscribers/import`; the report.
pub(crate) async fn import(app: &common::TestApp, csv: &str) -> Value {
    let r = app.import_subscribers(csv).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Imports `csv` as the API does, without its request timeout (a big file on SQLite in a debug
/// build on a busy machine may need more than 30 s); the report as the API would answer it.
async fn import_direct(app: &common::TestApp, csv: &str) -> Value {
    let rules = ImportRules::load(&app.state.store, &app.state.config)
        .await
        .unwrap();
    let now = to_ms(app.clock.now());
    let report = import_csv(&app.state.store, &rules, csv.as_bytes(), now, |_, _| {})
        .await
        .unwrap()
        .unwrap();
    serde_json::to_value(report).unwrap()
}

/// Runs `sql` (a statement, or a query of one BIGINT) straight on the app's database, with
/// `arg` bound to `$1` when given.
pub(crate) async fn sql(app: &common::TestApp, sql: &str, arg: Option<&str>) -> i64 {
    with_pool!(&app.database_url, |pool| {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        q.fetch_optional(&pool).await.unwrap().unwrap_or(0)
    })
}

/// Waits until `email` is stored: a sign-up is written by the outbox worker after the answer.
pub(crate) async fn stored(app: &common::TestApp, email: &str) {
    for _ in 0..500 {
        if common::subscriptions::status_of(app, email).await.is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{email} was never stored");
}

async fn person(app: &common::TestApp, email: &str) -> Subscriber {
    app.state
        .store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{email} is stored"))
}

/// `(line, field)` of each problem listed under `key`.
fn lines(report: &Value, key: &str) -> Vec<(u64, String)> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Rows in subscriber_sections of `email`.
async fn section_rows(app: &common::TestApp, email: &str) -> i64 {
    sql(
        app,
        "SELECT COUNT(*) FROM subscriber_sections
         WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = $1)",
        Some(email),
    )
    .await
}

on_both_backends! {
    async fn every_kind_of_row_is_reported_as_before_and_ends_as_its_last_row_says(app) {
        // Arrange: an imported person (confirmed at t0), one pending from the form, one who
        // unsubscribed and one who bounced.
        let t0 = to_ms(app.clock.now());
        import(&app, "email,sections,schedule\nold@example.org,news,daily\n\
                      left@example.org,,daily\nbounced@example.org,news,daily\n").await;
        let r = common::subscriptions::subscribe_json(&app, json!({"email": "pending@example.org",
            "sections": ["news"], "schedule": "daily"})).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        stored(&app, "pending@example.org").await;
        let left = person(&app, "left@example.org").await;
        app.state.store.unsubscribe(left.id, left.generation, t0).await.unwrap();
        sql(&app, "UPDATE subscribers SET status = 'bounced', bounced_at = 1 WHERE email = $1",
            Some("bounced@example.org")).await;
        app.clock.advance(Duration::hours(1));
        let t1 = to_ms(app.clock.now());

        // Act
        let report = import(&app, "email,sections,schedule,locale\n\
            new@example.org,news,daily,\n\
            old@example.org,grassroots,weekly,en\n\
            left@example.org,,weekly,\n\
            new@example.org,notices about,weekly,en\n\
            not-an-email,,daily,\n\
            pending@example.org,,weekly,\n\
            bounced@example.org,notices,weekly,\n\
            left@example.org,news,daily,\n").await;

        // Assert: the report...
        assert_eq!((report["created"].clone(), report["updated"].clone()), (json!(1), json!(3)), "{report}");
        assert_eq!(lines(&report, "skipped"), [(4, "email".into()), (8, "email".into()), (9, "email".into())]);
        assert_eq!((report["skipped_total"].clone(), report["errors_total"].clone()), (json!(3), json!(1)));
        assert_eq!(lines(&report, "errors"), [(6, "email".into())]);
        let why: Vec<&str> = report["skipped"].as_array().unwrap().iter().map(|p| p["error"].as_str().unwrap()).collect();
        assert!(why[0].contains("left@example.org has unsubscribed"), "{why:?}");
        assert!(why[1].contains("bounced@example.org has bounced"), "{why:?}");
        // ...and what is stored: the new address created at t1 with its last row's choices,
        let new = person(&app, "new@example.org").await;
        assert_eq!((new.status.as_str(), new.source.as_str(), new.created_at, new.confirmed_at), ("active", "import", t1, Some(t1)));
        assert_eq!((new.sections.clone(), new.schedule.as_str(), new.locale.as_str()), (vec!["about".to_owned(), "notices".to_owned()], "weekly", "en"));
        assert_eq!(section_rows(&app, "new@example.org").await, 2);
        // the imported one keeps when it was confirmed and takes its new choices,
        let old = person(&app, "old@example.org").await;
        assert_eq!((old.confirmed_at, old.sections.clone(), old.schedule.as_str(), old.locale.as_str()), (Some(t0), vec!["grassroots".to_owned()], "weekly", "en"));
        assert_eq!(section_rows(&app, "old@example.org").await, 1);
        // the pending one is active, confirmed now, every section, and still came by the form,
        let pending = person(&app, "pending@example.org").await;
        assert_eq!((pending.status.as_str(), pending.confirmed_at, pending.all_sections, pending.source.as_str()), ("active", Some(t1), true, "form"));
        assert_eq!((pending.schedule.as_str(), section_rows(&app, "pending@example.org").await), ("weekly", 0));
        // and nothing of the other two changed.
        let left = person(&app, "left@example.org").await;
        assert_eq!((left.status.as_str(), left.schedule.as_str(), left.all_sections), ("unsubscribed", "daily", true));
        let bounced = person(&app, "bounced@example.org").await;
        assert_eq!((bounced.status.as_str(), bounced.schedule.as_str(), bounced.sections.clone()), ("bounced", "daily", vec!["news".to_owned()]));
        assert_eq!(app.state.store.count_subscribers(None).await.unwrap(), 5);
    }

    async fn a_file_bigger_than_a_batch_keeps_file_order_and_an_import_again_changes_nothing(app) {
        // 10,250 rows: more than a batch on both backends. Row 7 repeats m00001 within the
        // first batch, row 10,100 repeats m00003 in the second.
        let n = 10_250;
        let mut csv = String::from("email,sections,schedule\n");
        for i in 0..n {
            let (who, sections, schedule) = match i {
                7 => (1, "grassroots", "weekly"),
                10_100 => (3, "", "weekly"),
                i if i % 2 == 0 => (i, "news notices", "daily"),
                i => (i, "about", "weekly"),
            };
            csv.push_str(&format!("m{who:05}@example.org,{sections},{schedule}\n"));
        }
        let report = import_direct(&app, &csv).await;
        assert_eq!((report["created"].clone(), report["updated"].clone(), report["skipped_total"].clone(), report["errors_total"].clone()),
            (json!(n - 2), json!(2), json!(0), json!(0)), "{}", report["errors"]);

        // The later row of each repeated address is what stays.
        let m1 = person(&app, "m00001@example.org").await;
        assert_eq!((m1.sections, m1.schedule.as_str()), (vec!["grassroots".to_owned()], "weekly"));
        let m3 = person(&app, "m00003@example.org").await;
        assert_eq!((m3.all_sections, m3.schedule.as_str(), section_rows(&app, "m00003@example.org").await), (true, "weekly", 0));
        // Ids follow the file (the list is in id order).
        let r = app.client.get(app.url("/api/v1/subscribers?limit=4")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        let listed: Value = r.json().await.unwrap();
        let emails: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["m00000@example.org", "m00001@example.org", "m00002@example.org", "m00003@example.org"]);
        // Sections: two for each even address, one for each odd one but m00003 (every section).
        let even = (0..n).filter(|i| i % 2 == 0 && *i != 10_100).count();
        let odd = (0..n).filter(|i| i % 2 == 1 && *i != 7).count();
        let expected = 2 * even + odd - 1;
        let count = "SELECT COUNT(*) FROM subscriber_sections";
        assert_eq!(sql(&app, count, None).await, expected as i64);

        // The same file again: everyone updated, nothing different.
        app.clock.advance(Duration::hours(1));
        let again = import_direct(&app, &csv).await;
        assert_eq!((again["created"].clone(), again["updated"].clone()), (json!(0), json!(n)), "{again}");
        assert_eq!(sql(&app, count, None).await, expected as i64);
        let m1_again = person(&app, "m00001@example.org").await;
        assert_eq!((m1_again.confirmed_at, m1_again.sections), (m1.confirmed_at, vec!["grassroots".to_owned()]));
        let active = app.state.store.count_subscribers(None).await.unwrap();
        assert_eq!(active, (n - 2) as i64);
    }

    async fn sections_of_an_existing_person_are_replaced_not_added_to(app) {
        let csv = |sections: &str| format!("email,sections,schedule\nli@example.org,{sections},daily\n");
        import(&app, &csv("news notices")).await;
        import(&app, &csv("grassroots notices")).await;
        let li = person(&app, "li@example.org").await;
        assert_eq!((li.all_sections, li.sections), (false, vec!["grassroots".to_owned(), "notices".to_owned()]));
        assert_eq!(section_rows(&app, "li@example.org").await, 2);

        import(&app, &csv("")).await;
        let li = person(&app, "li@example.org").await;
        assert!(li.all_sections, "no sections named: every section");
        assert_eq!(section_rows(&app, "li@example.org").await, 0);

        import(&app, &csv("about")).await;
        let li = person(&app, "li@example.org").await;
        assert_eq!((li.all_sections, li.sections), (false, vec!["about".to_owned()]));
    }
}
