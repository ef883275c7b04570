//! Run figures kept as counters (issue 15), on both backends: whatever changed the deliveries
//! (the outcome writer's sent, skipped, deferred, failed, bounced and uncertain outcomes, an
//! orphan found by a claim, an unsubscribe that wins over an intent, a late DSN, a console
//! retry, a folding of PostgreSQL's deltas), the figures the API shows and the queue depth
//! equal a recount of the deliveries table. The same holds in a `tidings serve` process killed
//! in the middle of a run (SIGKILL), and after another one took the run over and finished it.

use crate::common;

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use serde_json::Value;
use tidings::{
    clock::to_ms,
    domain::{Audit, AuditKind},
    store::{Claim, Effect, InboundEvent, Intent, Outcome, RetryPolicy},
};

use crate::scale_claims::import;
use common::fault_smtp::{FaultSmtp, Faults};

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    uncertain_retry_ms: 600_000,
};
const MINUTE: i64 = 60_000;

/// `[total, sent, skipped, deferred, failed, bounced, uncertain, pending]`, then the deliveries
/// with status 'pending' (the queue).
type Figures = ([i64; 8], i64);

/// The run's figures counted from its deliveries, by SPEC §7's definitions.
const RECOUNT: &str = "SELECT COUNT(*),
    CAST(COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN status = 'pending' AND uncertain = 0
        AND (attempts > 0 OR last_error IS NOT NULL) THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN status = 'bounced' THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN status = 'uncertain'
        OR (status = 'pending' AND uncertain > 0) THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN status = 'pending' AND uncertain = 0 AND attempts = 0
        AND last_error IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT),
    CAST(COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT)
    FROM deliveries WHERE run_id = $1";

/// The same figures as the counters hold them (with the deltas not folded in yet).
const COUNTERS: &str = "SELECT total, sent, skipped, deferred, failed, bounced, uncertain,
    pending, queued FROM run_figures WHERE run_id = $1";

type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64);

fn figures(r: Row) -> Figures {
    ([r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7], r.8)
}

/// `(counters, recount)` of `run`, read straight from the database at `url`.
async fn in_database(url: &str, run: i64) -> (Figures, Figures) {
    with_pool!(url, |pool| {
        let c: Row = sqlx::query_as(COUNTERS)
            .bind(run)
            .fetch_one(&pool)
            .await
            .unwrap();
        let r: Row = sqlx::query_as(RECOUNT)
            .bind(run)
            .fetch_one(&pool)
            .await
            .unwrap();
        (figures(c), figures(r))
    })
}

/// The addresses of `run`'s deliveries with `status`.
async fn emails_with_status(url: &str, run: i64, status: &str) -> Vec<String> {
    const SQL: &str = "SELECT s.email FROM deliveries d JOIN subscribers s
        ON s.id = d.subscriber_id WHERE d.run_id = $1 AND d.status = $2";
    with_pool!(url, |pool| {
        sqlx::query_scalar(SQL)
            .bind(run)
            .bind(status)
            .fetch_all(&pool)
            .await
            .unwrap()
    })
}

/// Asserts that the API's figures of `run`, its figures in the runs list and the queue depth
/// equal a recount; returns them.
async fn assert_counted(app: &common::TestApp, run: i64, step: &str) -> [i64; 8] {
    let (counters, recount) = in_database(&app.database_url, run).await;
    assert_eq!(
        counters, recount,
        "{step}: counters (left) and a recount (right) differ"
    );
    let store = &app.state.store;
    let v = store.get_run(run).await.unwrap().unwrap();
    let shown = [
        v.total,
        v.sent,
        v.skipped,
        v.deferred,
        v.failed,
        v.bounced,
        v.uncertain,
        v.pending,
    ];
    assert_eq!(shown, recount.0, "{step}: run view");
    let listed = store.list_runs(None, None, 10).await.unwrap();
    let l = listed.iter().find(|r| r.id == run).unwrap();
    assert_eq!(
        (l.sent, l.deferred, l.pending, l.uncertain),
        (v.sent, v.deferred, v.pending, v.uncertain),
        "{step}: runs list"
    );
    assert_eq!(
        store.pending_deliveries().await.unwrap(),
        recount.1,
        "{step}: queue depth"
    );
    recount.0
}

fn by_subscriber(claims: &[Claim]) -> Vec<Claim> {
    let mut v = claims.to_vec();
    v.sort_by_key(|c| c.subscriber_id);
    v
}

on_both_backends! {
    async fn every_change_of_a_delivery_keeps_the_counters_equal_to_a_recount(app) {
        import(&app, 10).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let run = store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        assert_eq!(assert_counted(&app, run, "planned").await, [10, 0, 0, 0, 0, 0, 0, 10]);

        let c = by_subscriber(&store.claim_deliveries("w", t, t + MINUTE, 100, &POLICY).await.unwrap().claims);
        assert_counted(&app, run, "claimed").await;
        let sent = |c: &Claim| Outcome::Sent { claim: c.clone(), message_id: format!("<{}@t>", c.id), schedule: "daily".into(), cutoff: t };
        let once = RetryPolicy { max_attempts: 1, ..POLICY };
        store.record_outcomes("w", t + 1, &once, &[Outcome::Transient { claim: c[3].clone(), error: "451 later".into(), retry_at: t + MINUTE }]).await.unwrap();
        let outcomes = vec![
            sent(&c[0]),
            Outcome::Skipped { claim: c[1].clone(), schedule: "daily".into(), cutoff: t },
            Outcome::Transient { claim: c[2].clone(), error: "451 later".into(), retry_at: t + MINUTE },
            Outcome::Permanent { claim: c[4].clone(), error: "550 no such user".into() },
            Outcome::Uncertain { claim: c[5].clone(), error: "no answer after the final \".\"".into() },
            Outcome::GiveBack { claim: c[6].clone(), error: Some("mail relay unavailable".into()), retry_at: Some(t + MINUTE) },
            Outcome::GiveBack { claim: c[7].clone(), error: None, retry_at: None },
            sent(&c[9]),
        ];
        store.record_outcomes("w", t + 2, &POLICY, &outcomes).await.unwrap();
        // sent 2, skipped 1, deferred 2 (a retry, the relay), failed 1, bounced 1, uncertain 1,
        // pending 2 (given back untried; one still held, its intent about to be granted).
        assert_eq!(assert_counted(&app, run, "outcomes").await, [10, 2, 1, 2, 1, 1, 1, 2]);
        store.fold_run_figures().await.unwrap();
        assert_counted(&app, run, "folded").await;

        // c[8]'s holder stops after its intent; the next claim finds it orphaned (uncertain).
        let w = store.commit_window(t + 3, t + MINUTE, &POLICY, &[Intent { delivery: c[8].id, owner: "w".into() }], &[]).await.unwrap();
        assert_eq!(w.answers.len(), 1);
        let later = t + 2 * MINUTE;
        let next = store.claim_deliveries("v", later, later + MINUTE, 100, &POLICY).await.unwrap();
        assert_eq!(next.orphans.len(), 1);
        assert_counted(&app, run, "orphan").await;

        // c[7]'s subscriber leaves before the new holder's intent: skipped.
        let r = app.client.delete(app.url("/api/v1/subscribers/c7@example.com")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert!(r.status().is_success());
        store.commit_window(later + 1, later + MINUTE, &POLICY, &[Intent { delivery: c[7].id, owner: "v".into() }], &[]).await.unwrap();
        assert_counted(&app, run, "inactive").await;

        // A late DSN bounces c[0], which was sent.
        let dsn = InboundEvent { received_at: later + 2, via: "smtp".into(), kind: "hard_bounce".into(), subscriber_id: Some(c[0].subscriber_id), delivery_id: Some(c[0].id), status: Some("5.1.1".into()), detail: Some("no such user".into()), raw: None };
        store.record_inbound(&dsn, Effect::HardBounce, 10).await.unwrap();
        let f = assert_counted(&app, run, "late DSN").await;
        assert_eq!((f[1], f[5]), (1, 2), "sent and bounced after the DSN: {f:?}");

        // The rest are sent; the run finishes with failures; a console retry reopens it.
        let held: Vec<Outcome> = next.claims.iter().filter(|x| x.id != c[7].id).map(sent).collect();
        store.record_outcomes("v", later + 3, &POLICY, &held).await.unwrap();
        // The two uncertain ones (c[5], c[8]) get their one retry.
        let retry = store.claim_deliveries("v", t + 13 * MINUTE, t + 14 * MINUTE, 100, &POLICY).await.unwrap();
        assert_eq!(retry.claims.len(), 2, "{retry:?}");
        let settled: Vec<Outcome> = retry.claims.iter().map(sent).collect();
        store.record_outcomes("v", t + 13 * MINUTE + 1, &POLICY, &settled).await.unwrap();
        assert_eq!(assert_counted(&app, run, "settled").await, [10, 5, 2, 0, 1, 2, 0, 0]);
        let finished = store.finish_runs(t + 14 * MINUTE).await.unwrap();
        assert_eq!(finished, vec![(run, tidings::domain::RunStatus::DoneWithFailures)]);
        let audit = Audit::new("admin@example.org", AuditKind::RunRetry, &run.to_string(), None);
        assert_eq!(store.retry_failed_deliveries(run, &audit, t + 15 * MINUTE).await.unwrap(), 1);
        let f = assert_counted(&app, run, "retried").await;
        assert_eq!((f[3], f[4]), (1, 0), "the failed delivery is deferred again: {f:?}");
        assert_eq!(store.get_run(run).await.unwrap().unwrap().status.as_str(), "running");
        assert!(store.finish_runs(t + 15 * MINUTE).await.unwrap().is_empty(), "finished with a delivery queued");
        store.fold_run_figures().await.unwrap();
        assert_counted(&app, run, "folded again").await;
    }
}

fn serve(db_url: &str, smtp_url: &str, dir: &std::path::Path) -> (common::process::Served, String) {
    let mut command = common::process::serve_smtp_command(db_url, &dir.join("outbox"), smtp_url);
    command
        .env("TIDINGS_MAIL__RATE_PER_SECOND", "300")
        .env("TIDINGS_SUBSCRIPTIONS__IP_BURST", "1000")
        .env("TIDINGS_DIGESTS__LEASE_SECONDS", "5")
        .env("TIDINGS_DIGESTS__MAX_ATTEMPTS", "1")
        .env("TIDINGS_DIGESTS__UNCERTAIN_RETRY_SECONDS", "2");
    let (child, base, _) = common::process::start(command);
    (child, base)
}

async fn api(client: &reqwest::Client, base: &str, path: &str, body: Option<String>) -> Value {
    let r = match body {
        Some(b) => client
            .post(format!("{base}{path}"))
            .header("content-type", "text/csv")
            .body(b),
        None => client.post(format!("{base}{path}")),
    };
    let r = r.bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

const CRASH_SUBSCRIBERS: usize = 900;

/// Kills a serve process mid-run (with refusals, 451s under max_attempts = 1, and lost
/// replies after the final "."), checks the counters against a recount in the database it
/// left, restarts it, and checks again once the run is finished.
async fn killed_mid_run(db_url: &str) {
    let mut faults = Faults::default();
    for i in (0..CRASH_SUBSCRIBERS).step_by(50) {
        faults
            .rcpt_replies
            .insert(format!("k{i}@example.com"), "550 5.1.1 no such user".into());
        faults
            .transient_times
            .insert(format!("k{}@example.com", i + 1), 1);
        faults
            .hang_up_after_dot
            .insert(format!("k{}@example.com", i + 2), 1);
    }
    let smtp = FaultSmtp::start(faults).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(db_url, &smtp.url(), dir.path());
    let client = reqwest::Client::new();
    let mut csv = String::from("email,sections,schedule\n");
    for i in 0..CRASH_SUBSCRIBERS {
        csv.push_str(&format!("k{i}@example.com,,daily\n"));
    }
    api(&client, &base, "/api/v1/subscribers/import", Some(csv)).await;
    let r = client
        .put(format!("{base}/api/v1/articles/counted"))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&{
            let mut a = common::article("news", "计数测试");
            a["published_at"] = chrono::Utc::now().to_rfc3339().into();
            a
        })
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let run = api(&client, &base, "/api/v1/schedules/daily/run", None).await["run_id"]
        .as_i64()
        .unwrap();

    let deadline = Instant::now() + StdDuration::from_secs(240);
    while smtp.messages().len() < CRASH_SUBSCRIBERS / 3 {
        assert!(Instant::now() < deadline, "the run never got going");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A 451 answered before the kill whose outcome the killed process had not written yet is
    // lost with it: the takeover tries again and the server (its fault used up) accepts.
    let failed_at_kill = emails_with_status(db_url, run, "failed").await;
    let lost: Vec<String> = (0..CRASH_SUBSCRIBERS)
        .step_by(50)
        .map(|i| format!("k{}@example.com", i + 1))
        .filter(|e| smtp.transient_left(e) == 0 && !failed_at_kill.contains(e))
        .collect();
    let (counters, recount) = in_database(db_url, run).await;
    assert_eq!(
        counters, recount,
        "after the kill: counters (left) and a recount (right)"
    );
    assert!(
        recount.1 > 0,
        "the run was over before the kill: {recount:?}"
    );

    let (mut again, base) = serve(db_url, &smtp.url(), dir.path());
    let deadline = Instant::now() + StdDuration::from_secs(300);
    let view = loop {
        let v: Value = client
            .get(format!("{base}/api/v1/runs/{run}"))
            .bearer_auth(common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] != "running" {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "run not finished after the restart: {v}"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    };
    let (counters, recount) = in_database(db_url, run).await;
    assert_eq!(
        counters, recount,
        "after the takeover: counters (left) and a recount (right)"
    );
    let f = recount.0;
    let shown: Vec<i64> = [
        "total",
        "sent",
        "skipped",
        "deferred",
        "failed",
        "bounced",
        "uncertain",
        "pending",
    ]
    .iter()
    .map(|k| view[k].as_i64().unwrap())
    .collect();
    assert_eq!(shown, f.to_vec(), "the API's figures: {view}");
    assert_eq!(view["status"], "done_with_failures", "{view}");
    let bad = CRASH_SUBSCRIBERS as i64 / 50;
    let lost_n = lost.len() as i64;
    assert_eq!(
        (f[0], f[4], f[5], f[7], recount.1),
        (CRASH_SUBSCRIBERS as i64, bad - lost_n, bad, 0, 0),
        "{f:?} (451s whose outcome the kill lost: {lost:?})"
    );
    assert_eq!(
        f[1] + f[6],
        CRASH_SUBSCRIBERS as i64 - 2 * bad + lost_n,
        "{f:?}"
    );
    let failed = emails_with_status(db_url, run, "failed").await;
    for e in &lost {
        assert!(!failed.contains(e), "{e} failed although its 451 was lost");
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status();
    again.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_mid_run_leaves_counters_equal_to_a_recount_and_so_does_the_takeover() {
    let dir = tempfile::tempdir().unwrap();
    killed_mid_run(&format!(
        "sqlite://{}",
        dir.path().join("counted.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_mid_run_leaves_counters_equal_to_a_recount_and_so_does_the_takeover_postgres()
 {
    if common::postgres_url().is_none() {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    }
    let (db_url, _guard) = common::create_pg_database().await;
    killed_mid_run(&db_url).await;
}
