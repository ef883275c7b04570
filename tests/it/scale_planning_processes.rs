//! Planning across processes (issue 15), on both backends: a planner stopped after the first
//! of three chunks is resumed from its cursor by another process once its lease has run out
//! (exactly one delivery per subscriber, counters equal to a recount); another process plans
//! another schedule while a run is mid-plan, and does not take that run over while its lease
//! holds; a cron fire is planned chunk by chunk and wakes the delivery loops; and "run now"
//! answers after the first chunk while the rest is planned in the background and sent.
//!
//! The second process is the app built on the same database and not started (no loops, no
//! HTTP), with a clock of its own, so that the test says when it ticks.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{
    Backend, TestApp,
    smtp::{SmtpServer, spawn_app_with_smtp},
};
use tidings::{
    AppState,
    clock::{Clock, from_ms, to_ms},
    domain::RunStatus,
    store::{PlanLease, PlanStep},
};

use crate::digest_delivery::{import, publish, run_now, wait_done};
use crate::scale_planning::planned;

const MINUTE: i64 = 60_000;

/// Another process on `app`'s database, planning `chunk` subscribers at a time, at `clock`.
async fn second_process(app: &TestApp, clock: &Clock, chunk: u32) -> AppState {
    let dir = app.dir.path().join("second");
    let mut config = common::test_config(&dir, &app.database_url);
    config.digests.plan_chunk = chunk;
    tidings::App::build_state(config, clock.clone())
        .await
        .unwrap()
}

/// `n` active subscribers of `schedule`, `prefix0@example.com`…
async fn subscribers(app: &TestApp, prefix: &str, schedule: &str, n: usize) {
    let rows: String = (0..n)
        .map(|i| format!("{prefix}{i}@example.com,,{schedule}\n"))
        .collect();
    import(app, &rows).await;
}

fn lease(owner: &str) -> PlanLease {
    PlanLease {
        owner: owner.to_owned(),
        millis: MINUTE,
    }
}

on_both_backends! {
    async fn a_planner_stopped_after_one_chunk_of_three_is_resumed_by_another_process(app) {
        subscribers(&app, "r", "daily", 5).await;
        let store = &app.state.store;
        // A run an hour ahead of the app's clock: its own loops and scheduler leave it alone.
        let t = to_ms(app.clock.now() + Duration::hours(1));
        let crashed = lease("crashed-planner");
        let run = store.start_run("daily", None, t, t, &crashed).await.unwrap().unwrap();
        assert_eq!(store.plan_chunk(run, &crashed, t, 2).await.unwrap(), PlanStep::Chunk { planned: 2 });
        // Its planner stops there (killed): nothing renews the lease.

        let clock = Clock::manual(from_ms(t + MINUTE / 2));
        let other = second_process(&app, &clock, 2).await;
        let r = other.digests.scheduler.tick().await.unwrap();
        assert!(r.resumed.is_empty(), "taken over while its lease held: {r:?}");
        assert_eq!(planned(&app.database_url, run, "daily").await.deliveries, 2);

        clock.advance(Duration::minutes(1));
        let r = other.digests.scheduler.tick().await.unwrap();
        assert_eq!(r.resumed, vec![run]);
        let d = planned(&app.database_url, run, "daily").await;
        assert_eq!((d.deliveries, d.doubled, d.missing), (5, 0, 0), "{d:?}");
        assert_eq!(d.counters, d.recount, "{d:?}");
        let v = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((v.status, v.planning, v.total), (RunStatus::Running, false, 5));
        // The stopped planner, come back, writes nothing.
        assert_eq!(store.plan_chunk(run, &crashed, t + 2 * MINUTE, 2).await.unwrap(), PlanStep::Lost);
        assert_eq!(planned(&app.database_url, run, "daily").await, d);
        other.shutdown.cancel();
    }

    async fn another_process_plans_another_schedule_while_a_run_is_mid_plan(app) {
        subscribers(&app, "d", "daily", 5).await;
        subscribers(&app, "w", "weekly", 3).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::hours(1));
        let first = lease("first-process");
        let daily = store.start_run("daily", None, t, t, &first).await.unwrap().unwrap();
        store.plan_chunk(daily, &first, t, 2).await.unwrap();

        // Mid-plan: another process runs "weekly" now, and plans all of it.
        let clock = Clock::manual(from_ms(t + 10_000));
        let other = second_process(&app, &clock, 10_000).await;
        let weekly = other.digests.scheduler.run_now("weekly").await.unwrap();
        let v = store.get_run(weekly).await.unwrap().unwrap();
        assert_eq!((v.status, v.planning, v.total), (RunStatus::Running, false, 3));
        let w = planned(&app.database_url, weekly, "weekly").await;
        assert_eq!((w.deliveries, w.doubled, w.missing), (3, 0, 0), "{w:?}");
        assert!(other.digests.scheduler.tick().await.unwrap().resumed.is_empty());
        let v = store.get_run(daily).await.unwrap().unwrap();
        assert_eq!((v.planning, v.total), (true, 2), "the run mid-plan is left to its planner");

        let last = store.plan_to_end(daily, &first, t + 20_000, 2).await.unwrap();
        assert_eq!(last, PlanStep::Finished { planned: 1, empty: false });
        let d = planned(&app.database_url, daily, "daily").await;
        assert_eq!((d.deliveries, d.doubled, d.missing), (5, 0, 0), "{d:?}");
        assert_eq!(d.counters, d.recount, "{d:?}");
        other.shutdown.cancel();
    }

    async fn a_cron_fire_is_planned_chunk_by_chunk_and_wakes_the_delivery_loops(app) {
        subscribers(&app, "c", "daily", 5).await;
        // The daily 08:00 Asia/Shanghai instant, seen by a process planning two at a time.
        let fire: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
        let clock = Clock::manual(fire);
        let other = second_process(&app, &clock, 2).await;
        let woken = other.digests.wakeup.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let r = other.digests.scheduler.tick().await.unwrap();
        assert_eq!(r.started.len(), 1, "{r:?}");
        let run = r.started[0];
        assert!(tokio::time::timeout(std::time::Duration::ZERO, woken).await.is_ok(), "the delivery loops were not woken");
        let d = planned(&app.database_url, run, "daily").await;
        assert_eq!((d.deliveries, d.doubled, d.missing), (5, 0, 0), "{d:?}");
        assert_eq!(d.counters, d.recount, "{d:?}");
        let v = app.state.store.get_run(run).await.unwrap().unwrap();
        assert_eq!((v.status, v.planning, v.fire_at), (RunStatus::Running, false, Some(fire)));
        other.shutdown.cancel();
    }
}

/// "Run now" with two subscribers per chunk: the answer comes after the first chunk, the rest
/// is planned in the background, and every subscriber gets one mail.
async fn run_now_in_chunks(backend: Backend) {
    let smtp = SmtpServer::start();
    let Some(app) = spawn_app_with_smtp(backend, &smtp, |c| c.digests.plan_chunk = 2).await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    subscribers(&app, "m", "daily", 5).await;
    app.clock.advance(Duration::minutes(1));
    publish(&app, "n1", "news", "分批规划").await;
    app.clock.advance(Duration::minutes(1));
    let run = run_now(&app, "daily").await;
    let v = wait_done(&app, run).await;
    assert_eq!(
        (v["total"].as_i64(), v["sent"].as_i64()),
        (Some(5), Some(5)),
        "{v}"
    );
    assert_eq!(v["planning"], false, "{v}");
    let mails = smtp.wait_for(5).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let expected: Vec<String> = (0..5).map(|i| format!("m{i}@example.com")).collect();
    assert_eq!(to, expected, "one mail each");
    let d = planned(&app.database_url, run, "daily").await;
    assert_eq!((d.deliveries, d.doubled, d.missing), (5, 0, 0), "{d:?}");
    assert_eq!(d.counters, d.recount, "{d:?}");
}

mod run_now_answers_after_the_first_chunk_and_the_rest_is_planned_and_sent {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_now_in_chunks(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_now_in_chunks(Backend::Postgres).await;
    }
}
