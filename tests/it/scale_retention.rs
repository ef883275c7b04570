//! Retention of deliveries (`digests.keep_days`, issue 15), on both backends: only the
//! deliveries of finished runs that ended before the cutoff are deleted, a batch per
//! transaction; running runs, younger runs and a run reopened by a retry keep theirs; every
//! run keeps its figures. The background task does it on the app's (movable) clock: once after
//! start and then hourly.

use crate::common;

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use serde_json::Value;
use tidings::{
    clock::to_ms,
    digests::retention,
    domain::{Audit, AuditKind, Run},
    store::{Claim, Outcome, RetryPolicy},
};

use crate::scale_claims::import;

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    uncertain_retry_ms: 600_000,
};
const DAY: i64 = 24 * 3600 * 1000;

async fn deliveries_of(app: &common::TestApp, run: i64) -> usize {
    app.state
        .store
        .run_deliveries(run, None, 0, 1000)
        .await
        .unwrap()
        .len()
}

fn figures(r: &Run) -> [i64; 8] {
    [
        r.total,
        r.sent,
        r.skipped,
        r.deferred,
        r.failed,
        r.bounced,
        r.uncertain,
        r.pending,
    ]
}

/// Plans a run of every active subscriber falling due at `due`, claims it and settles it
/// (sent, or failed for the subscribers listed), then finishes it at `finished`.
async fn settled_run(app: &common::TestApp, due: i64, failing: &[i64], finished: i64) -> i64 {
    let store = &app.state.store;
    let run = store
        .plan_run("daily", None, due, due)
        .await
        .unwrap()
        .unwrap();
    let claims = store
        .claim_deliveries("w", due, due + 60_000, 1000, &POLICY)
        .await
        .unwrap()
        .claims;
    let once = RetryPolicy {
        max_attempts: 1,
        ..POLICY
    };
    let outcomes: Vec<Outcome> = claims
        .iter()
        .filter(|c| c.run_id == run)
        .map(|c: &Claim| {
            if failing.contains(&c.subscriber_id) {
                Outcome::Transient {
                    claim: c.clone(),
                    error: "451 later".into(),
                    retry_at: due + 60_000,
                }
            } else {
                Outcome::Sent {
                    claim: c.clone(),
                    message_id: format!("<{}@t>", c.id),
                    schedule: "daily".into(),
                    cutoff: due,
                }
            }
        })
        .collect();
    store
        .record_outcomes("w", due + 1, &once, &outcomes)
        .await
        .unwrap();
    // The app's own loops may finish it first, at the clock's instant: the tests set the clock
    // to `finished` before settling a run.
    store.finish_runs(finished).await.unwrap();
    let view = store.get_run(run).await.unwrap().unwrap();
    assert_ne!(view.status.as_str(), "running", "{view:?}");
    run
}

/// With the background task off (`keep_days = 0`), so that only these calls delete.
async fn purge_in_batches(app: common::TestApp) {
    import(&app, 10).await;
    let store = &app.state.store;
    let s = to_ms(app.clock.now());
    // A: finished at s. R: finished at s, one failed delivery (the last subscriber's).
    let a = settled_run(&app, s + DAY, &[], s).await;
    let last = store
        .subscriber_by_email("c9@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let r = settled_run(&app, s + 2 * DAY, &[last], s).await;
    // B: finished 100 days later (young at the cutoff). C: still running.
    app.clock.set(app.clock.now() + Duration::days(100));
    let b = settled_run(&app, s + 101 * DAY, &[], s + 100 * DAY).await;
    let c = store
        .plan_run("daily", None, s + 500 * DAY, s + 500 * DAY)
        .await
        .unwrap()
        .unwrap();
    let mut before = Vec::new();
    for id in [a, b, c] {
        before.push(figures(&store.get_run(id).await.unwrap().unwrap()));
    }

    // Cutoff: 10 days after s. A goes 3 at a time: 3, 3, 3, 1, then it is purged.
    let cutoff = s + 10 * DAY;
    let now = s + 101 * DAY;
    let mut from = None;
    let mut batches = Vec::new();
    loop {
        let p = store
            .purge_deliveries(cutoff, now, from, 3)
            .await
            .unwrap()
            .expect("A qualifies");
        batches.push((p.deleted, deliveries_of(&app, a).await));
        from = p.next;
        if from.is_none() {
            break;
        }
    }
    assert_eq!(batches, vec![(3, 7), (3, 4), (3, 1), (1, 0)]);
    // R next: one batch of two, then a retry of its failed delivery reopens it.
    let p = store
        .purge_deliveries(cutoff, now, None, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.deleted, deliveries_of(&app, r).await), (2, 8));
    let audit = Audit::new(
        "admin@example.org",
        AuditKind::RunRetry,
        &r.to_string(),
        None,
    );
    assert_eq!(
        store.retry_failed_deliveries(r, &audit, now).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .purge_deliveries(cutoff, now, p.next, 2)
            .await
            .unwrap(),
        None,
        "a reopened, a young and a running run have nothing to purge"
    );
    assert_eq!(deliveries_of(&app, r).await, 8);
    assert_eq!(deliveries_of(&app, b).await, 10);
    assert_eq!(deliveries_of(&app, c).await, 10);

    // Every run keeps its figures (R's failed one is deferred again by the retry).
    for (id, before) in [a, b, c].into_iter().zip(before) {
        assert_eq!(
            figures(&store.get_run(id).await.unwrap().unwrap()),
            before,
            "run {id}"
        );
    }
    let f = figures(&store.get_run(r).await.unwrap().unwrap());
    assert_eq!((f[0], f[1], f[3], f[4]), (10, 9, 1, 0), "{f:?}");
}

async fn without_the_task(backend: common::Backend) -> Option<common::TestApp> {
    common::spawn_app_with(backend, |c| c.digests.keep_days = 0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_deliveries_of_finished_runs_older_than_the_cutoff_go_a_batch_at_a_time() {
    purge_in_batches(without_the_task(common::Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_deliveries_of_finished_runs_older_than_the_cutoff_go_a_batch_at_a_time_postgres() {
    let Some(app) = without_the_task(common::Backend::Postgres).await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    purge_in_batches(app).await;
}

on_both_backends! {
    async fn the_background_task_purges_on_the_movable_clock_and_keeps_the_figures(app) {
        import(&app, 4).await;
        publish(&app, "old", "旧闻").await;
        let a = run_now(&app).await;
        let a_view = wait_done(&app, a).await;
        assert_eq!(deliveries_of(&app, a).await, 4);

        // 100 days later: the task wakes, and A (finished 100 days ago) loses its deliveries.
        app.clock.advance(Duration::days(100));
        wait_for_pass(&app).await;
        assert_eq!(deliveries_of(&app, a).await, 0, "A's deliveries kept past keep_days");
        assert_eq!(run_view(&app, a).await, a_view, "A's figures changed");

        // B finishes now; C keeps running. A day later the task keeps both.
        publish(&app, "new", "新闻").await;
        let b = run_now(&app).await;
        let b_view = wait_done(&app, b).await;
        let far = to_ms(app.clock.now() + Duration::days(1000));
        let c = app.state.store.plan_run("daily", None, far, far).await.unwrap().unwrap();
        app.clock.advance(Duration::days(1));
        wait_for_pass(&app).await;
        assert_eq!((deliveries_of(&app, b).await, deliveries_of(&app, c).await), (4, 4));
        assert_eq!(run_view(&app, b).await, b_view);

        // 90 days after B finished, its deliveries go too; C (running) keeps its.
        app.clock.advance(Duration::days(90));
        wait_for_pass(&app).await;
        assert_eq!((deliveries_of(&app, b).await, deliveries_of(&app, c).await), (0, 4));
        assert_eq!(run_view(&app, b).await, b_view, "B's figures changed");
        assert_eq!(run_view(&app, c).await["status"], "running");
    }
}

/// Waits until the retention task has made its pass after the clock moved: it then waits for
/// its next one, an hour (and up to `SPREAD`) after now.
async fn wait_for_pass(app: &common::TestApp) {
    let now = app.clock.now();
    let (from, to) = (
        now + retention::EVERY,
        now + retention::EVERY + retention::SPREAD,
    );
    let deadline = Instant::now() + StdDuration::from_secs(30);
    while !app.clock.waiting().iter().any(|t| *t > from && *t <= to) {
        assert!(
            Instant::now() < deadline,
            "no retention pass: {:?}",
            app.clock.waiting()
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

async fn publish(app: &common::TestApp, id: &str, title: &str) {
    let mut body = common::article("news", title);
    body["published_at"] = app.clock.now().to_rfc3339().into();
    let r = app.put_article(id, &body).await;
    assert!(r.status().is_success());
}

async fn run_now(app: &common::TestApp) -> i64 {
    let r = app
        .client
        .post(app.url("/api/v1/schedules/daily/run"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["run_id"].as_i64().unwrap()
}

async fn run_view(app: &common::TestApp, id: i64) -> Value {
    app.client
        .get(app.url(&format!("/api/v1/runs/{id}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_done(app: &common::TestApp, id: i64) -> Value {
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let v = run_view(app, id).await;
        if v["status"] == "done" {
            return v;
        }
        assert!(Instant::now() < deadline, "run {id} not done: {v}");
        app.state.digests.wakeup.notify_waiters();
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

#[test]
fn keep_days_defaults_to_90_zero_keeps_forever_and_a_bad_value_names_the_key() {
    use tidings::config::Config;
    assert_eq!(Config::from_toml_str("").unwrap().digests.keep_days, 90);
    let shipped = Config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/default.toml"
    )))
    .unwrap();
    assert_eq!(shipped.digests.keep_days, 90);
    let forever = Config::from_toml_str("[digests]\nkeep_days = 0").unwrap();
    assert_eq!(forever.digests.keep_days, 0);
    let err = Config::from_toml_str("[digests]\nkeep_days = 40000").unwrap_err();
    assert!(format!("{err:#}").contains("digests.keep_days"), "{err:#}");
}
