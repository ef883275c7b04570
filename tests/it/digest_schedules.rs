//! Schedules fire at the right instants, once, whatever the number of processes.

use crate::common;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn runs_of(app: &common::TestApp, schedule: &str) -> Vec<Value> {
    let v: Value = app
        .client
        .get(app.url(&format!("/api/v1/runs?schedule={schedule}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

async fn put_schedule(app: &common::TestApp, slug: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/schedules/{slug}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

on_both_backends! {
    async fn shanghai_eight_oclock_fires_at_midnight_utc_exactly_once(app) {
        // The clock starts at 2026-03-01T00:00Z; the configured daily schedule is 08:00 Asia/Shanghai.
        app.clock.set(utc("2026-03-01T23:59:59Z"));
        app.state.digests.scheduler.tick().await.unwrap();
        assert!(runs_of(&app, "daily").await.is_empty());
        app.clock.set(utc("2026-03-02T00:00:00Z"));
        app.state.digests.scheduler.tick().await.unwrap();
        app.state.digests.scheduler.tick().await.unwrap();
        app.clock.set(utc("2026-03-02T00:00:30Z"));
        app.state.digests.scheduler.tick().await.unwrap();
        let runs = runs_of(&app, "daily").await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["fire_at"], "2026-03-02T00:00:00Z");
        assert_eq!(runs[0]["schedule"], "daily");
    }

    async fn a_new_york_schedule_fires_once_on_both_dst_transition_days(app) {
        app.clock.set(utc("2026-03-07T12:00:00Z"));
        let r = put_schedule(&app, "ny", json!({"name": "NY", "cron": "30 2 * * *", "timezone": "America/New_York"})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        // Walk through the spring-forward day hour by hour.
        for h in 0..=48 {
            app.clock.set(utc("2026-03-07T12:00:00Z") + chrono::Duration::hours(h));
            app.state.digests.scheduler.tick().await.unwrap();
        }
        assert_eq!(runs_of(&app, "ny").await.len(), 2, "one on 03-08 (gap) and one on 03-09");
        // And through the fall-back day in ten-minute steps.
        app.clock.set(utc("2026-10-31T12:00:00Z"));
        let r = put_schedule(&app, "ny2", json!({"name": "NY2", "cron": "30 1 * * *", "timezone": "America/New_York"})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        for step in 0..=(24 * 6) {
            app.clock.set(utc("2026-10-31T12:00:00Z") + chrono::Duration::minutes(10 * step));
            app.state.digests.scheduler.tick().await.unwrap();
        }
        let runs = runs_of(&app, "ny2").await;
        assert_eq!(runs.len(), 1, "01:30 happens twice on 2026-11-01 but fires once: {runs:?}");
        assert_eq!(runs[0]["fire_at"], "2026-11-01T05:30:00Z");
    }

    async fn missed_instants_older_than_the_catch_up_window_are_recorded_as_missed(app) {
        // Down from 2026-03-01T00:00Z for 3 days: the daily 08:00 instants of 03-02 and 03-03 are
        // older than 12 h at 2026-03-04T06:00Z (22:00 and 46 h), 03-04 00:00Z is 6 h old.
        app.clock.set(utc("2026-03-04T06:00:00Z"));
        app.state.digests.scheduler.tick().await.unwrap();
        // The fired run (nobody to mail) ends on its own soon after the tick: a paced run's
        // planner finishes in the background, so its end is waited for, not assumed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut runs = runs_of(&app, "daily").await;
        while runs.iter().any(|r| r["status"] == "running" || r["status"] == "planning") {
            assert!(std::time::Instant::now() < deadline, "the fired run never ended: {runs:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            runs = runs_of(&app, "daily").await;
        }
        let statuses: Vec<(&str, &str)> = runs.iter().map(|r| (r["fire_at"].as_str().unwrap(), r["status"].as_str().unwrap())).collect();
        assert_eq!(statuses, [("2026-03-04T00:00:00Z", "done"), ("2026-03-03T00:00:00Z", "missed"), ("2026-03-02T00:00:00Z", "missed")]);
    }

    async fn a_disabled_schedule_does_not_fire_and_does_not_replay_when_enabled(app) {
        let r = put_schedule(&app, "daily", json!({"name": "每日摘要", "cron": "0 8 * * *", "enabled": false})).await;
        assert_eq!(r.status(), StatusCode::OK);
        app.clock.set(utc("2026-03-02T01:00:00Z"));
        app.state.digests.scheduler.tick().await.unwrap();
        assert!(runs_of(&app, "daily").await.is_empty());
        put_schedule(&app, "daily", json!({"name": "每日摘要", "cron": "0 8 * * *", "enabled": true})).await;
        app.state.digests.scheduler.tick().await.unwrap();
        assert!(runs_of(&app, "daily").await.is_empty(), "enabling replayed a past instant");
    }

    async fn schedule_changes_take_effect_without_restart(app) {
        let r = put_schedule(&app, "hourly", json!({"name": "每小时", "cron": "0 * * * *"})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["timezone"], "Asia/Shanghai");
        assert_eq!(body["max_articles"], 20);
        app.clock.set(utc("2026-03-01T03:00:00Z"));
        app.state.digests.scheduler.tick().await.unwrap();
        assert_eq!(runs_of(&app, "hourly").await.len(), 3);
        let r = app.client.delete(app.url("/api/v1/schedules/hourly")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        app.clock.set(utc("2026-03-01T06:00:00Z"));
        app.state.digests.scheduler.tick().await.unwrap();
        assert_eq!(runs_of(&app, "hourly").await.len(), 3, "a deleted schedule fired");
        let list: Value = app.client.get(app.url("/api/v1/schedules")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        let slugs: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["daily", "weekly"]);
    }

    async fn bad_schedule_input_is_rejected_by_field(app) {
        for (body, field) in [
            (json!({"name": "x", "cron": "0 25 * * *"}), "cron"),
            (json!({"name": "x"}), "cron"),
            (json!({"name": "", "cron": "0 8 * * *"}), "name"),
            (json!({"name": "x", "cron": "0 8 * * *", "timezone": "Asia/Beijing"}), "timezone"),
            (json!({"name": "x", "cron": "0 8 * * *", "max_articles": 0}), "max_articles"),
            (json!({"name": "x", "cron": "0 8 * * *", "enabled": "yes"}), "enabled"),
            (json!({"name": "x", "cron": "0 8 * * *", "colour": "red"}), "colour"),
        ] {
            let r = put_schedule(&app, "bad", body.clone()).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["field"], field, "{body}");
        }
        assert_eq!(app.state.store.list_schedules().await.unwrap().len(), 2);
        let r = app.client.delete(app.url("/api/v1/schedules/nope")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app.client.post(app.url("/api/v1/schedules/nope/run")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app.client.get(app.url("/api/v1/runs/12345")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app.client.get(app.url("/api/v1/schedules")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "a valid token without the role");
    }

    async fn a_manual_run_is_created_at_once_with_a_null_fire_instant(app) {
        let r = app.client.post(app.url("/api/v1/schedules/weekly/run")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let body: Value = r.json().await.unwrap();
        let id = body["run_id"].as_i64().unwrap();
        let run: Value = app.client.get(app.url(&format!("/api/v1/runs/{id}"))).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(run["schedule"], "weekly");
        assert!(run["fire_at"].is_null());
        for key in ["status", "total", "sent", "skipped", "failed", "pending"] {
            assert!(!run[key].is_null(), "{key} missing in {run}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_on_one_postgres_database_create_exactly_one_run_per_instant() {
    let Some(_) = common::postgres_url() else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    let (url, _guard) = common::create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = tidings::clock::Clock::manual(utc("2026-03-01T00:00:00Z"));
    let mut apps = Vec::new();
    for _ in 0..3 {
        let config = common::test_config(dir.path(), &url);
        apps.push(
            tidings::App::build_with_clock(config, clock.clone())
                .await
                .unwrap(),
        );
    }
    clock.set(utc("2026-03-05T00:00:00Z"));
    let ticks = apps.iter().map(|a| {
        let s = a.state();
        tokio::spawn(async move {
            for _ in 0..5 {
                s.digests.scheduler.tick().await.unwrap();
            }
        })
    });
    for t in ticks.collect::<Vec<_>>() {
        t.await.unwrap();
    }
    let runs = apps[0]
        .state()
        .store
        .list_runs(Some("daily"), None, 100)
        .await
        .unwrap();
    let mut instants: Vec<_> = runs
        .iter()
        .map(|r| {
            r.fire_at
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .collect();
    instants.sort();
    assert_eq!(
        instants,
        [
            "2026-03-02T00:00:00Z",
            "2026-03-03T00:00:00Z",
            "2026-03-04T00:00:00Z",
            "2026-03-05T00:00:00Z"
        ]
    );
}
