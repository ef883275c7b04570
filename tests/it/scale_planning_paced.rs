//! Planning paced by the senders (issue 15: the cost per delivery flat over a run), on both
//! backends. A cron fire is planned three chunks ahead of the senders and no further while
//! nothing is sent; the waiting planner keeps its lease; a planner stopped by its process's
//! shutdown leaves the run to another process once the lease runs out; and the run ends with
//! one mail to each subscriber and counters equal to a recount.
//!
//! The firing process is the app built on the same database and not started (no loops, no
//! HTTP), with a clock of its own a day ahead of the served app's, so that the served app's
//! delivery loops leave the run alone until the test moves their clock.

use std::time::Duration as StdDuration;

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{
    Backend, TestApp,
    smtp::{SmtpServer, spawn_app_with_smtp},
};
use tidings::{
    AppState,
    clock::{Clock, to_ms},
};

use crate::digest_delivery::{import, publish, wait_done};
use crate::scale_planning::planned;

/// `(deliveries, planning, plan_until)` of `run`, straight from the database.
async fn planning_state(app: &TestApp, run: i64) -> (i64, bool, Option<i64>) {
    let url = &app.database_url;
    with_pool!(url, |pool| {
        let deliveries: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE run_id = $1")
                .bind(run)
                .fetch_one(&pool)
                .await
                .unwrap();
        let (status, until): (String, Option<i64>) =
            sqlx::query_as("SELECT status, plan_until FROM runs WHERE id = $1")
                .bind(run)
                .fetch_one(&pool)
                .await
                .unwrap();
        (deliveries, status == "planning", until)
    })
}

/// The process that fires the run: two subscribers a chunk, a lease of a minute.
async fn firing_process(app: &TestApp, clock: &Clock) -> AppState {
    let dir = app.dir.path().join("firing");
    let mut config = common::test_config(&dir, &app.database_url);
    config.digests.plan_chunk = 2;
    config.digests.lease_seconds = 60;
    tidings::App::build_state(config, clock.clone())
        .await
        .unwrap()
}

async fn paced(backend: Backend) {
    let smtp = SmtpServer::start();
    let Some(app) = spawn_app_with_smtp(backend, &smtp, |c| c.digests.plan_chunk = 2).await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    let rows: String = (0..20)
        .map(|i| format!("p{i:02}@example.com,,daily\n"))
        .collect();
    import(&app, &rows).await;
    publish(&app, "paced", "news", "按发送节奏规划").await;

    // The daily 08:00 Asia/Shanghai instant, a day after the served app's clock.
    let fire: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
    let clock = Clock::manual(fire);
    let firing = firing_process(&app, &clock).await;
    let r = firing.digests.scheduler.tick().await.unwrap();
    assert_eq!(r.started.len(), 1, "{r:?}");
    let run = r.started[0];

    // Three chunks ahead of the senders, and no more while nothing is sent.
    let (deliveries, planning, until) = planning_state(&app, run).await;
    assert_eq!(
        (deliveries, planning),
        (6, true),
        "planned further than three chunks ahead"
    );
    assert_eq!(until, Some(to_ms(fire) + 60_000));
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    assert_eq!(
        planning_state(&app, run).await.0,
        6,
        "planned on with a full queue"
    );

    // Waiting, the planner renews its lease every quarter of it.
    clock.advance(Duration::seconds(20));
    let renewed = to_ms(fire) + 20_000 + 60_000;
    let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
    while planning_state(&app, run).await.2 != Some(renewed) {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiting planner did not renew its lease"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }

    // Its process stops: the run stays planning, three chunks in.
    firing.shutdown.cancel();
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    assert_eq!(planning_state(&app, run).await, (6, true, Some(renewed)));

    // The served app's clock passes the fire and the lease: its scheduler takes the planning
    // over, paced by its own senders, and the run ends with one mail each.
    app.clock.set(fire + Duration::minutes(2));
    let v = wait_done(&app, run).await;
    assert_eq!(
        (v["total"].as_i64(), v["sent"].as_i64()),
        (Some(20), Some(20)),
        "{v}"
    );
    let mails = smtp.wait_for(20).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let expected: Vec<String> = (0..20).map(|i| format!("p{i:02}@example.com")).collect();
    assert_eq!(to, expected, "one mail each");
    let d = planned(&app.database_url, run, "daily").await;
    assert_eq!((d.deliveries, d.doubled, d.missing), (20, 0, 0), "{d:?}");
    assert_eq!(d.counters, d.recount, "{d:?}");
}

mod a_run_is_planned_three_chunks_ahead_of_its_senders_and_resumed_after_a_shutdown {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        paced(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        paced(Backend::Postgres).await;
    }
}
