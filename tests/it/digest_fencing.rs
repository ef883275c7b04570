//! The delivery ledger's fencing under slow servers, paused and stopped processes, unsubscribes
//! racing a run and relay outages:
//! - a reply to the final "." slower than the lease is waited for (the lease is renewed), and
//!   the mail goes out once;
//! - a process paused (SIGSTOP) past its lease sends nothing it no longer holds: every
//!   subscriber gets one mail, or is reported uncertain; one that resumes between its intent
//!   and the message, after another process took the run over, never writes the message;
//! - a reply that comes after the timeout (or never: the server hangs up after the ".") leaves
//!   the delivery uncertain, retried once after `digests.uncertain_retry_seconds`, never twice;
//! - SIGTERM exits 0 within 10 s even while the server sits on its replies, leaves nothing
//!   leased or marked as being sent, and gives back at once what it had not written;
//! - an unsubscribe (or an erasure) after the claim wins over the send;
//! - a relay outage defers deliveries without spending attempts, pauses the queue on the app's
//!   clock (every delivery counting as deferred meanwhile), and everything goes out once when
//!   it is back.
//!
//! In-process tests use the app's manual clock (leases never run out by themselves there);
//! tests about leases running out use `tidings serve` child processes on the system clock.

use crate::common;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use common::{
    Backend, PgDatabase, TestApp,
    fault_smtp::{FaultSmtp, Faults, duplicates},
};
use reqwest::StatusCode;
use serde_json::Value;
use tidings::config::{Config, MailTransport};

// ---------------------------------------------------------------------------------------------
// Database access of the tests themselves (both backends).

/// One integer (a count) from `sql` on the database at `url`.
async fn db_i64(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let v = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let v = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    }
}

/// How many deliveries of run `id` match `cond`.
async fn count_where(url: &str, id: i64, cond: &str) -> i64 {
    db_i64(
        url,
        &format!("SELECT COUNT(*) FROM deliveries WHERE run_id = {id} AND ({cond})"),
    )
    .await
}

/// Rows of `(id, text)` from `sql` on the database at `url`.
async fn db_rows(url: &str, sql: &str) -> Vec<(i64, Option<String>)> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let v = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        v
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let v = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        v
    }
}

// ---------------------------------------------------------------------------------------------
// In-process helpers (manual clock).

/// The app on `backend` sending over SMTP to `smtp`, with `tweak` applied to its config.
async fn smtp_app(backend: Backend, smtp: &FaultSmtp, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let url = smtp.url();
    common::spawn_app_with(backend, |c| {
        c.mail.transport = MailTransport::Smtp;
        c.mail.smtp_url = Some(url);
        tweak(c);
    })
    .await
    .expect("app")
}

/// Imports `emails` as active subscribers of `schedule`.
async fn import(app: &TestApp, emails: &[String], schedule: &str) {
    let mut csv = String::from("email,sections,schedule\n");
    for e in emails {
        csv.push_str(&format!("{e},,{schedule}\n"));
    }
    app.import_ok(&csv).await;
}

/// Imports `emails`, publishes an article after them and starts a run of `daily`; its id.
async fn plan_run(app: &TestApp, emails: &[String]) -> i64 {
    import(app, emails, "daily").await;
    app.clock.advance(chrono::Duration::minutes(1));
    let mut body = common::article("news", "围栏测试");
    body["published_at"] = app.clock.now().to_rfc3339().into();
    let r = app.put_article("fencing", &body).await;
    assert!(r.status().is_success());
    app.clock.advance(chrono::Duration::minutes(1));
    run_now(app, "daily").await
}

/// Starts a run of `schedule` now; its id.
async fn run_now(app: &TestApp, schedule: &str) -> i64 {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/schedules/{schedule}/run")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json::<Value>().await.unwrap()["run_id"].as_i64().unwrap()
}

async fn run_view(app: &TestApp, id: i64) -> Value {
    get_json(&app.client, &app.base, &format!("/api/v1/runs/{id}")).await
}

/// Polls run `id` (waking the delivery loops each time) until `done` says so; its view.
async fn wait_run(app: &TestApp, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = run_view(app, id).await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        app.state.digests.wakeup.notify_waiters();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Gives the delivery loops (which poll every second) a few chances to act.
async fn let_loops_poll(app: &TestApp) {
    for _ in 0..5 {
        app.state.digests.wakeup.notify_waiters();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn emails(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}@example.com")).collect()
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// The run figures `[sent, skipped, deferred, failed, bounced, uncertain, pending]`.
fn figures(run: &Value) -> [i64; 7] {
    [
        "sent",
        "skipped",
        "deferred",
        "failed",
        "bounced",
        "uncertain",
        "pending",
    ]
    .map(|k| run[k].as_i64().unwrap_or_else(|| panic!("no {k}: {run}")))
}

// ---------------------------------------------------------------------------------------------
// Over HTTP, for both kinds of tests.

async fn get_json(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = client
        .get(format!("{base}{path}"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

/// Every delivery of run `id` in the run figure `status`, following the cursor.
async fn deliveries(client: &reqwest::Client, base: &str, id: i64, status: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get_json(
            client,
            base,
            &format!("/api/v1/runs/{id}/deliveries?status={status}&limit=1000{cursor}"),
        )
        .await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return items,
        }
    }
}

fn email_set(items: &[Value]) -> HashSet<String> {
    items
        .iter()
        .filter_map(|d| d["email"].as_str().map(str::to_owned))
        .collect()
}

/// Mails received per recipient.
fn per_recipient(smtp: &FaultSmtp) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for r in smtp.recipients() {
        *per.entry(r).or_default() += 1;
    }
    per
}

// ---------------------------------------------------------------------------------------------
// Child processes (system clock).

/// A `tidings serve` child, killed if the test ends without stopping it.
struct Proc {
    child: common::process::Served,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Proc {
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// SIGTERM (unless it has exited already), then waits (at most 20 s) for the exit; how
    /// long it took and its status.
    fn terminate(&mut self) -> (Duration, std::process::ExitStatus) {
        let started = Instant::now();
        if let Some(status) = self.child.try_wait().unwrap() {
            return (Duration::ZERO, status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (started.elapsed(), status);
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("tidings still running 20 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A database for a child-process test: the URL, the PostgreSQL guard, and a temp dir (the
/// SQLite file and the outbox). `None` for PostgreSQL when no server is configured.
async fn database(backend: Backend) -> Option<(String, Option<PgDatabase>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("fencing.db").display());
            Some((url, None, dir))
        }
        Backend::Postgres => {
            if common::postgres_url().is_none() {
                eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
                return None;
            }
            let (url, guard) = common::create_pg_database().await;
            Some((url, Some(guard), dir))
        }
    }
}

/// `tidings serve` on `db_url`, mailing over `smtp_url`, with `env` on top.
fn serve(db_url: &str, smtp_url: &str, dir: &Path, env: &[(&str, &str)]) -> Proc {
    let mut command = common::process::serve_smtp_command(db_url, &dir.join("outbox"), smtp_url);
    for (k, v) in env {
        command.env(k, v);
    }
    let (child, base, _) = common::process::start(command);
    Proc { child, base }
}

/// Imports `emails`, publishes an article and starts a run of `daily` through `base`; its id.
async fn start_run(client: &reqwest::Client, base: &str, emails: &[String]) -> i64 {
    let mut csv = String::from("email,sections,schedule\n");
    for e in emails {
        csv.push_str(&format!("{e},,daily\n"));
    }
    common::import_ok(client, base, &csv).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut body = common::article("news", "围栏测试");
    body["published_at"] = Utc::now().to_rfc3339().into();
    let r = client
        .put(format!("{base}/api/v1/articles/fencing"))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = client
        .post(format!("{base}/api/v1/schedules/daily/run"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json::<Value>().await.unwrap()["run_id"].as_i64().unwrap()
}

/// Waits (at most `secs`) until run `id` is finished (`done` or `done_with_failures`).
async fn wait_finished(client: &reqwest::Client, base: &str, id: i64, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = get_json(client, base, &format!("/api/v1/runs/{id}")).await;
        if v["status"] == "done" || v["status"] == "done_with_failures" {
            return v;
        }
        assert!(Instant::now() < deadline, "run {id} not finished: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most `secs`) until the server has received at least `n` messages.
async fn wait_received(smtp: &FaultSmtp, n: usize, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while smtp.messages().len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages arrived",
            smtp.messages().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// =============================================================================================
// 1. A reply to the final "." slower than the lease (child process: leases run on real time).

/// Lease 5 s; three of sixty recipients get the reply to their "." after 8 s. The lease is
/// renewed while the batch waits, so nobody is taken for an orphan: everyone gets exactly one
/// mail, each delivery is sent at its first attempt, and the run is `done`.
async fn a_reply_slower_than_the_lease_is_awaited_and_mail_goes_out_once(backend: Backend) {
    let Some((db_url, _guard, dir)) = database(backend).await else {
        return;
    };
    let all = emails("slowlease", 60);
    let slow: Vec<String> = [7, 23, 41].iter().map(|i| all[*i].clone()).collect();
    let smtp = FaultSmtp::start(Faults {
        dot_delay: slow
            .iter()
            .map(|e| (e.clone(), Duration::from_secs(8)))
            .collect(),
        ..Faults::default()
    })
    .await;
    let mut proc = serve(
        &db_url,
        &smtp.url(),
        dir.path(),
        &[("TIDINGS_DIGESTS__LEASE_SECONDS", "5")],
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    let id = start_run(&client, &proc.base, &all).await;
    let run = wait_finished(&client, &proc.base, id, 60).await;
    let took = started.elapsed();

    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["total"], 60, "{run}");
    assert_eq!(figures(&run), [60, 0, 0, 0, 0, 0, 0], "{run}");
    assert!(
        took >= Duration::from_secs(8),
        "the slow replies did not hold the run past the lease ({took:?})"
    );
    let per = per_recipient(&smtp);
    for e in &all {
        assert_eq!(per.get(e), Some(&1), "{e} got {:?} mails", per.get(e));
    }
    // Sent at the first attempt: no delivery was ever taken for an orphan of a stopped sender
    // (that would have counted an uncertain attempt before the late "sent").
    let sent = deliveries(&client, &proc.base, id, "sent").await;
    assert_eq!(sent.len(), 60);
    for d in &sent {
        assert_eq!(d["attempts"], 1, "{d}");
    }
    let uncertain = db_i64(
        &db_url,
        &format!("SELECT COUNT(*) FROM deliveries WHERE run_id = {id} AND uncertain > 0"),
    )
    .await;
    assert_eq!(uncertain, 0, "a slow send was taken for an orphan");
    let (_, status) = proc.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_reply_beyond_the_lease_sqlite() {
    a_reply_slower_than_the_lease_is_awaited_and_mail_goes_out_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_reply_beyond_the_lease_postgres() {
    a_reply_slower_than_the_lease_is_awaited_and_mail_goes_out_once(Backend::Postgres).await;
}

// =============================================================================================
// 2. A process paused (SIGSTOP) past its lease.

const PAUSED_SUBSCRIBERS: usize = 600;

/// Lease 5 s, 100 mails a second per process, 600 subscribers. On PostgreSQL two processes
/// share the run and one is stopped for 12 s mid-run: the other takes over its expired leases
/// while it is stopped. On SQLite the only process is stopped for 12 s. After SIGCONT nobody
/// gets two mails, nobody is skipped, and every subscriber has one mail or is reported
/// uncertain.
///
/// The uncertain retry (`digests.uncertain_retry_seconds`) must be longer than the pause minus
/// the lease on PostgreSQL: a delivery whose message was on the wire when its process stopped
/// becomes uncertain once the lease runs out, and a retry while the stopped process still owes
/// its "sent" would send it again (by design: uncertain means "maybe delivered").
async fn a_process_paused_past_its_lease_sends_nothing_twice(backend: Backend) {
    let Some((db_url, _guard, dir)) = database(backend).await else {
        return;
    };
    let two = backend == Backend::Postgres;
    let retry = if two { "20" } else { "5" };
    let all = emails("paused", PAUSED_SUBSCRIBERS);
    let smtp = FaultSmtp::start(Faults::default()).await;
    let env = |host: &'static str| {
        [
            ("TIDINGS_DIGESTS__LEASE_SECONDS", "5"),
            ("TIDINGS_MAIL__RATE_PER_SECOND", "100"),
            ("TIDINGS_DIGESTS__UNCERTAIN_RETRY_SECONDS", retry),
            ("HOSTNAME", host),
        ]
    };
    let a = serve(&db_url, &smtp.url(), dir.path(), &env("proca"));
    let b = two.then(|| serve(&db_url, &smtp.url(), dir.path(), &env("procb")));
    let client = reqwest::Client::new();
    let id = start_run(&client, &a.base, &all).await;

    // Stop A while it holds part of the run.
    let held_by_a = format!(
        "SELECT id, lease_owner FROM deliveries WHERE run_id = {id}
         AND status = 'pending' AND lease_owner LIKE 'proca-%'"
    );
    wait_received(&smtp, 60, 30).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while db_rows(&db_url, &held_by_a).await.is_empty() {
        assert!(Instant::now() < deadline, "process A never held a delivery");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.signal("-STOP");
    let stopped = Instant::now();
    let held: Vec<i64> = db_rows(&db_url, &held_by_a)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let at_stop = smtp.messages().len();
    assert!(
        at_stop < PAUSED_SUBSCRIBERS,
        "the run finished before the pause; make it longer"
    );
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(stopped.elapsed())).await;
    if two {
        // B took over what A held once A's leases ran out.
        let list = held
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let taken = if list.is_empty() {
            0
        } else {
            db_i64(
                &db_url,
                &format!(
                    "SELECT COUNT(*) FROM deliveries WHERE id IN ({list})
                     AND (status <> 'pending' OR uncertain > 0 OR lease_owner LIKE 'procb-%')"
                ),
            )
            .await
        };
        assert!(
            taken > 0,
            "none of the {} deliveries A held at the pause were taken over in 12 s",
            held.len()
        );
        eprintln!(
            "A held {} deliveries when stopped; {taken} taken over by B during the pause",
            held.len()
        );
    } else {
        assert_eq!(
            smtp.messages().len(),
            at_stop,
            "mail arrived while the only process was stopped"
        );
        eprintln!(
            "stopped after {at_stop} mails holding {} deliveries",
            held.len()
        );
    }
    a.signal("-CONT");
    // A fresh client: A may close the idle keep-alive connections of the old one as it wakes up
    // (their header-read timeout ran out during the pause), racing the next request.
    let client = reqwest::Client::new();

    let run = wait_finished(&client, &a.base, id, 60).await;
    let [sent, skipped, deferred, failed, bounced, uncertain, pending] = figures(&run);
    assert_eq!(run["total"], PAUSED_SUBSCRIBERS as i64, "{run}");
    assert_eq!(
        (skipped, deferred, failed, bounced, pending),
        (0, 0, 0, 0, 0),
        "{run}"
    );
    assert_eq!(sent + uncertain, PAUSED_SUBSCRIBERS as i64, "{run}");
    let dups = duplicates(&smtp.recipients());
    assert!(dups.is_empty(), "mail sent twice: {dups:?}");
    let per = per_recipient(&smtp);
    let sent_to = email_set(&deliveries(&client, &a.base, id, "sent").await);
    let uncertain_to = email_set(&deliveries(&client, &a.base, id, "uncertain").await);
    assert_eq!(sent_to.len() as i64, sent);
    for e in &all {
        match per.get(e) {
            Some(1) => assert!(
                sent_to.contains(e) || uncertain_to.contains(e),
                "{e} got its mail but the run says neither sent nor uncertain"
            ),
            _ => assert!(
                uncertain_to.contains(e),
                "{e} got no mail and the run does not report it uncertain"
            ),
        }
    }
    for e in &sent_to {
        assert_eq!(
            per.get(e),
            Some(&1),
            "{e} is reported sent but did not arrive"
        );
    }
    eprintln!(
        "run: {sent} sent, {uncertain} uncertain; A held {} at the pause",
        held.len()
    );
    let mut procs = vec![a];
    procs.extend(b);
    for mut p in procs {
        let (_, status) = p.terminate();
        assert!(status.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paused_past_the_lease_sqlite() {
    a_process_paused_past_its_lease_sends_nothing_twice(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paused_past_the_lease_postgres() {
    a_process_paused_past_its_lease_sends_nothing_twice(Backend::Postgres).await;
}

// 2b. A process resuming between its intent and the message, after its lease passed on.

/// PostgreSQL only (it takes two processes; several processes share PostgreSQL, not SQLite).
/// A is stopped while its four connections wait for the 354 reply to DATA: intents committed,
/// nothing written. While it is stopped its leases run out and B takes the whole run over (A's
/// sends in progress become uncertain and B retries them 2 s later) and finishes it. When A
/// continues, the 354 replies are waiting for it: the check right before the message (the
/// lease is still held) must call those sends off, or their subscribers get a second mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_resuming_after_its_lease_passed_on_never_writes_the_message_postgres() {
    let Some((db_url, _guard, dir)) = database(Backend::Postgres).await else {
        return;
    };
    let all = emails("resume", 40);
    let smtp = FaultSmtp::start(Faults {
        data_delay: Some(Duration::from_millis(1500)),
        ..Faults::default()
    })
    .await;
    let env = |host: &'static str| {
        [
            ("TIDINGS_DIGESTS__LEASE_SECONDS", "5"),
            ("TIDINGS_DIGESTS__UNCERTAIN_RETRY_SECONDS", "2"),
            ("TIDINGS_MAIL__RATE_PER_SECOND", "100"),
            ("HOSTNAME", host),
        ]
    };
    let mut a = serve(&db_url, &smtp.url(), dir.path(), &env("proca"));
    let client = reqwest::Client::new();
    let id = start_run(&client, &a.base, &all).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while *smtp.in_data_delay.lock().unwrap() < 4 {
        assert!(
            Instant::now() < deadline,
            "A never had four sends waiting for 354"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.signal("-STOP");
    assert!(
        smtp.messages().is_empty(),
        "A wrote a message before the pause"
    );
    let intents = db_rows(
        &db_url,
        &format!(
            "SELECT d.id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.run_id = {id} AND d.lease_owner LIKE 'proca-%' AND d.sending_at IS NOT NULL"
        ),
    )
    .await;
    assert!(intents.len() >= 4, "{intents:?}");

    // B alone finishes the run while A is stopped.
    smtp.set_faults(Faults::default());
    let mut b = serve(&db_url, &smtp.url(), dir.path(), &env("procb"));
    let run = wait_finished(&client, &b.base, id, 40).await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(figures(&run), [40, 0, 0, 0, 0, 0, 0], "{run}");
    for (_, e) in &intents {
        let e = e.as_deref().unwrap();
        assert_eq!(
            smtp.count_to(e),
            1,
            "{e}: what A was sending went out once, from B"
        );
    }

    // A continues: its 354 replies are there, its leases are not. Its four sessions are
    // dropped, and its four other sends under way then connect and reach the same check.
    let connections = *smtp.connections.lock().unwrap();
    a.signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    while *smtp.connections.lock().unwrap() < connections + 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dups = duplicates(&smtp.recipients());
    assert!(
        dups.is_empty(),
        "A wrote messages after its lease passed on: {dups:?}"
    );
    assert_eq!(smtp.recipients().len(), 40);
    let client = reqwest::Client::new();
    let run = get_json(&client, &b.base, &format!("/api/v1/runs/{id}")).await;
    assert_eq!(figures(&run), [40, 0, 0, 0, 0, 0, 0], "{run}");
    for p in [&mut a, &mut b] {
        let (_, status) = p.terminate();
        assert!(status.success());
    }
}

// =============================================================================================
// 4. SIGTERM while the server sits on its replies.

const TERM_SUBSCRIBERS: usize = 40;

/// Every reply to a "." takes 20 s. SIGTERM once four messages (one per connection) are on the
/// server: the process exits 0 within 10 s, nothing is left leased or marked as being sent,
/// exactly the four written messages are uncertain (the rest went back untried), and a restart
/// finishes the run; only those four may arrive twice.
async fn sigterm_with_replies_outstanding_exits_within_ten_seconds(backend: Backend) {
    let Some((db_url, _guard, dir)) = database(backend).await else {
        return;
    };
    let all = emails("term", TERM_SUBSCRIBERS);
    let smtp = FaultSmtp::start(Faults {
        dot_delay_all: Some(Duration::from_secs(20)),
        ..Faults::default()
    })
    .await;
    let env = [("TIDINGS_DIGESTS__UNCERTAIN_RETRY_SECONDS", "2")];
    let mut a = serve(&db_url, &smtp.url(), dir.path(), &env);
    let client = reqwest::Client::new();
    let id = start_run(&client, &a.base, &all).await;
    // mail.concurrency = 4: four messages written, each waiting for its reply.
    wait_received(&smtp, 4, 30).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (took, status) = a.terminate();
    assert!(status.success(), "SIGTERM exit: {status}");
    assert!(
        took < Duration::from_secs(10),
        "exit took {took:?} after SIGTERM"
    );
    eprintln!("exited {took:?} after SIGTERM");
    let written: HashSet<String> = smtp.recipients().into_iter().collect();
    assert_eq!(written.len(), 4, "{written:?}");

    let count = |cond: &'static str| count_where(&db_url, id, cond);
    assert_eq!(count("lease_owner IS NOT NULL").await, 0, "left leased");
    assert_eq!(
        count("sending_at IS NOT NULL").await,
        0,
        "left 'being sent'"
    );
    assert_eq!(count("status = 'sent'").await, 0);
    let uncertain: HashSet<String> = db_rows(
        &db_url,
        &format!(
            "SELECT d.id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.run_id = {id} AND d.uncertain > 0"
        ),
    )
    .await
    .into_iter()
    .filter_map(|(_, e)| e)
    .collect();
    assert_eq!(
        uncertain, written,
        "the deliveries left uncertain are not the ones whose message was written"
    );
    assert_eq!(
        count("attempts > 0").await,
        4,
        "sends given back at SIGTERM spent an attempt"
    );

    smtp.set_faults(Faults::default());
    let mut b = serve(&db_url, &smtp.url(), dir.path(), &env);
    let run = wait_finished(&client, &b.base, id, 60).await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(
        figures(&run),
        [TERM_SUBSCRIBERS as i64, 0, 0, 0, 0, 0, 0],
        "{run}"
    );
    let per = per_recipient(&smtp);
    for e in &all {
        assert!(per.contains_key(e), "{e} got no mail");
    }
    let dups: HashSet<String> = duplicates(&smtp.recipients()).into_iter().collect();
    assert!(
        dups.is_subset(&uncertain),
        "mail sent twice that was not uncertain: {:?}",
        dups.difference(&uncertain).collect::<Vec<_>>()
    );
    let (_, status) = b.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_within_ten_seconds_sqlite() {
    sigterm_with_replies_outstanding_exits_within_ten_seconds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_within_ten_seconds_postgres() {
    sigterm_with_replies_outstanding_exits_within_ten_seconds(Backend::Postgres).await;
}

/// SIGTERM gives back at once the sends that have not written their message (SPEC §6: "give
/// back unsent claims"; the worker: "unsent claims are given back at once"), including those
/// whose intent is committed and that wait for one of the `mail.concurrency` connections: while
/// the process waits out the replies it owes (up to 5 s), only the four deliveries whose
/// message is on the server stay held, and the rest are free for any other process.
async fn sigterm_gives_back_unwritten_sends_at_once(backend: Backend) {
    let Some((db_url, _guard, dir)) = database(backend).await else {
        return;
    };
    let smtp = FaultSmtp::start(Faults {
        dot_delay_all: Some(Duration::from_secs(20)),
        ..Faults::default()
    })
    .await;
    let mut a = serve(&db_url, &smtp.url(), dir.path(), &[]);
    let client = reqwest::Client::new();
    let id = start_run(&client, &a.base, &emails("atonce", TERM_SUBSCRIBERS)).await;
    wait_received(&smtp, 4, 30).await;
    // Four messages on the wire, four more sends with their intent committed, waiting for a
    // connection (two sends per connection are under way at most).
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_where(&db_url, id, "sending_at IS NOT NULL").await < 8 {
        assert!(Instant::now() < deadline, "never eight sends under way");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.signal("-TERM");
    let termed = Instant::now();
    let mut held = i64::MAX;
    while termed.elapsed() < Duration::from_secs(2) {
        held = count_where(&db_url, id, "lease_owner IS NOT NULL").await;
        if held == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, status) = a.terminate();
    assert!(status.success());
    assert_eq!(
        held, 4,
        "2 s after SIGTERM {held} deliveries were still held; only the 4 written ones should be"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_gives_back_unwritten_sends_at_once_sqlite() {
    sigterm_gives_back_unwritten_sends_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_gives_back_unwritten_sends_at_once_postgres() {
    sigterm_gives_back_unwritten_sends_at_once(Backend::Postgres).await;
}

// =============================================================================================
// In-process tests (manual clock).

on_both_backends! {
    // 3. The reply to "." comes after the timeout: uncertain, retried once after
    // digests.uncertain_retry_seconds of clock time, uncertain for good after the second
    // silence, and never a third message.
    async fn a_reply_after_the_timeout_is_uncertain_and_retried_once_only(_app) {
        let backend = _app.backend;
        _app.stop().await;
        let slow = "slow@example.com".to_owned();
        let smtp = FaultSmtp::start(Faults {
            dot_delay: [(slow.clone(), Duration::from_secs(4))].into(),
            ..Faults::default()
        })
        .await;
        let app = smtp_app(backend, &smtp, |c| {
            // Every step within 1 s: the message and the reply to its "." within 2 s.
            c.mail.timeout = Some("1s".into());
            c.mail.rate_per_second = 1000;
            c.digests.uncertain_retry_seconds = 600;
        })
        .await;
        let mut all = emails("prompt", 5);
        all.push(slow.clone());
        let id = plan_run(&app, &all).await;
        let t0 = app.clock.now();

        let run = wait_run(&app, id, "first pass", |r| r["sent"] == 5 && r["uncertain"] == 1).await;
        assert_eq!(figures(&run), [5, 0, 0, 0, 0, 1, 0], "{run}");
        assert_eq!(run["status"], "running", "an uncertain delivery waits for its retry: {run}");
        let list = deliveries(&app.client, &app.base, id, "uncertain").await;
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["email"], slow.as_str());
        assert_eq!(list[0]["status"], "uncertain");
        assert_eq!(list[0]["attempts"], 1, "{}", list[0]);
        assert!(list[0]["last_reply"].as_str().is_some_and(|s| !s.is_empty()), "{}", list[0]);
        assert_eq!(at(&list[0]["next_attempt_at"]), t0 + chrono::Duration::seconds(600), "{}", list[0]);
        assert_eq!(smtp.count_to(&slow), 1);

        // Not retried before the delay...
        app.clock.advance(chrono::Duration::seconds(590));
        let_loops_poll(&app).await;
        assert_eq!(smtp.count_to(&slow), 1, "retried before uncertain_retry_seconds");
        assert_eq!(run_view(&app, id).await["status"], "running");

        // ...retried once after it: silent again, so uncertain for good.
        app.clock.advance(chrono::Duration::seconds(11));
        let run = wait_run(&app, id, "second pass", |r| r["status"] != "running").await;
        assert_eq!(run["status"], "done_with_failures", "{run}");
        assert_eq!(figures(&run), [5, 0, 0, 0, 0, 1, 0], "{run}");
        let list = deliveries(&app.client, &app.base, id, "uncertain").await;
        assert_eq!(list[0]["attempts"], 2, "{}", list[0]);
        assert!(list[0]["next_attempt_at"].is_null(), "{}", list[0]);
        assert_eq!(smtp.count_to(&slow), 2);

        // Never a third time.
        // (Two hours: a day would reach the next daily fire instant and start a new run.)
        app.clock.advance(chrono::Duration::hours(2));
        let_loops_poll(&app).await;
        assert_eq!(smtp.count_to(&slow), 2, "an uncertain delivery was sent a third time");
        assert_eq!(app.state.store.list_runs(None, None, 10).await.unwrap().len(), 1);
        assert_eq!(run_view(&app, id).await["status"], "done_with_failures");
        for e in &all[..5] {
            assert_eq!(smtp.count_to(e), 1, "{e}");
        }
    }

    // 3b. The server hangs up right after the "." (it got the message; the reply is lost):
    // uncertain and counted in the run, then retried once after the delay.
    async fn a_hang_up_after_the_dot_is_uncertain_and_counted_in_the_run(_app) {
        let backend = _app.backend;
        _app.stop().await;
        let hup = "hangup@example.com".to_owned();
        let smtp = FaultSmtp::start(Faults {
            hang_up_after_dot: [(hup.clone(), 1)].into(),
            ..Faults::default()
        })
        .await;
        let app = smtp_app(backend, &smtp, |c| {
            c.mail.rate_per_second = 1000;
            c.digests.uncertain_retry_seconds = 60;
        })
        .await;
        let mut all = emails("fine", 4);
        all.push(hup.clone());
        let id = plan_run(&app, &all).await;

        let run = wait_run(&app, id, "first pass", |r| r["sent"] == 4 && r["uncertain"] == 1).await;
        assert_eq!(figures(&run), [4, 0, 0, 0, 0, 1, 0], "{run}");
        assert_eq!(run["status"], "running", "{run}");
        let list = deliveries(&app.client, &app.base, id, "uncertain").await;
        assert_eq!((list.len(), list[0]["email"].as_str()), (1, Some(hup.as_str())), "{list:?}");
        assert_eq!(list[0]["attempts"], 1, "{}", list[0]);
        assert_eq!(smtp.count_to(&hup), 1, "the server got the message");

        app.clock.advance(chrono::Duration::seconds(61));
        let run = wait_run(&app, id, "retry", |r| r["status"] != "running").await;
        assert_eq!(run["status"], "done", "{run}");
        assert_eq!(figures(&run), [5, 0, 0, 0, 0, 0, 0], "{run}");
        let sent = deliveries(&app.client, &app.base, id, "sent").await;
        let d = sent.iter().find(|d| d["email"] == hup.as_str()).unwrap();
        assert_eq!(d["attempts"], 2, "{d}");
        // The one retry of an uncertain delivery is the only way a mail arrives twice.
        assert_eq!(smtp.count_to(&hup), 2);
        for e in &all[..4] {
            assert_eq!(smtp.count_to(e), 1, "{e}");
        }
    }

    // 5. An unsubscribe (one-click) and an erasure (admin API) after the claim, before the
    // send: neither person is mailed, and the run counts them as skipped.
    async fn an_unsubscribe_or_erasure_after_the_claim_wins(_app) {
        let backend = _app.backend;
        _app.stop().await;
        let smtp = FaultSmtp::start(Faults {
            hold_dot_replies: true,
            ..Faults::default()
        })
        .await;
        let app = smtp_app(backend, &smtp, |c| {
            // One connection, so a few sends at a time (one on the wire, the others with their
            // intent, waiting for it); the rest of the batch stays claimed, not yet sent.
            c.mail.concurrency = 1;
            c.mail.rate_per_second = 1000;
        })
        .await;
        let all = emails("member", 10);
        let id = plan_run(&app, &all).await;
        let db = app.database_url.clone();
        let count = |cond: &'static str| count_where(&db, id, cond);
        // Wait for the first message to be on hold and the sends under way to have their
        // intents (the count stays put: the others wait for a send slot).
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut intents = (0, 0);
        while smtp.messages().is_empty() || intents.0 == 0 || intents.0 != intents.1 {
            assert!(Instant::now() < deadline, "the run never got going");
            tokio::time::sleep(Duration::from_millis(200)).await;
            intents = (intents.1, count("sending_at IS NOT NULL").await);
        }
        let claimed = db_rows(
            &db,
            &format!(
                "SELECT d.id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE d.run_id = {id} AND d.status = 'pending' AND d.lease_owner IS NOT NULL
                   AND d.sending_at IS NULL ORDER BY d.id"
            ),
        )
        .await;
        assert_eq!(
            claimed.len() as i64 + intents.1,
            10,
            "claimed but not being sent: {claimed:?}"
        );
        assert!(claimed.len() >= 2, "{claimed:?}");
        let (unsub_id, unsub) = (claimed[0].0, claimed[0].1.clone().unwrap());
        let (erased_id, erased) = (claimed[1].0, claimed[1].1.clone().unwrap());

        // One-click unsubscribe with the link of the (not yet sent) digest.
        let s = app.state.store.subscriber_by_email(&unsub).await.unwrap().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while db_i64(&db, &format!("SELECT COUNT(*) FROM tokens WHERE subscriber_id = {}", s.id)).await == 0 {
            assert!(Instant::now() < deadline, "the digest's manage token was never stored");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let token = tidings::subscriptions::links::derived_manage_token(
            &app.state.digests.composer.link_secret,
            s.id,
            s.generation,
        );
        let r = app
            .client
            .post(app.url(&format!("/unsubscribe?token={}", token.text)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // Erasure through the admin API.
        let r = app
            .client
            .delete(app.url(&format!("/api/v1/subscribers/{erased}")))
            .bearer_auth(common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // Both deliveries were (and still are) claimed by a loop when the change landed.
        assert_eq!(
            db_i64(
                &db,
                &format!(
                    "SELECT COUNT(*) FROM deliveries WHERE id IN ({unsub_id}, {erased_id})
                     AND status = 'pending' AND lease_owner IS NOT NULL"
                )
            )
            .await,
            2
        );

        smtp.set_faults(Faults::default());
        let run = wait_run(&app, id, "run", |r| r["status"] != "running").await;
        assert_eq!(run["status"], "done", "{run}");
        assert_eq!(figures(&run), [8, 2, 0, 0, 0, 0, 0], "{run}");
        let per = per_recipient(&smtp);
        assert!(!per.contains_key(&unsub), "mailed after unsubscribing");
        assert!(!per.contains_key(&erased), "mailed after erasure");
        assert_eq!(per.len(), 8, "{per:?}");
        assert!(per.values().all(|n| *n == 1), "{per:?}");
        let skipped = deliveries(&app.client, &app.base, id, "skipped").await;
        let ids: HashSet<i64> = skipped.iter().map(|d| d["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, HashSet::from([unsub_id, erased_id]), "{skipped:?}");
        for d in &skipped {
            assert_eq!(d["attempts"], 0, "{d}");
            assert!(d["sent_at"].is_null() && d["message_id"].is_null(), "{d}");
        }
    }

    // 6. A relay answering 421 at the greeting: nothing sent and no attempt spent, every
    // delivery waiting for the end of the pause (5 s of app clock), then 10 s after a failed
    // probe; once the relay is back and the pause is over, everyone is mailed once.
    async fn a_relay_refusing_service_pauses_the_queue_without_attempts_then_delivers_once(_app) {
        let backend = _app.backend;
        _app.stop().await;
        let smtp = FaultSmtp::start(Faults {
            greeting: Some("421 4.3.2 service not available".into()),
            ..Faults::default()
        })
        .await;
        let app = smtp_app(backend, &smtp, |c| {
            c.mail.rate_per_second = 1000;
            c.digests.max_attempts = 2;
        })
        .await;
        let all = emails("outage", 20);
        let late = "weekly@example.com".to_owned();
        import(&app, std::slice::from_ref(&late), "weekly").await;
        let id = plan_run(&app, &all).await;
        let t0 = app.clock.now();
        let pause = |s: i64| t0 + chrono::Duration::seconds(s);

        let given_back_until = wait_given_back(&app, id, 20, pause(5)).await;
        let run = run_view(&app, id).await;
        assert_eq!(run["status"], "running", "{run}");
        let [sent, skipped, deferred, failed, bounced, uncertain, pending] = figures(&run);
        assert_eq!((sent, skipped, failed, bounced, uncertain), (0, 0, 0, 0, 0), "{run}");
        assert_eq!(deferred + pending, 20, "{run}");
        assert!(deferred >= 1, "{run}");
        check_waiting(&app, id, 20, given_back_until).await;

        // Paused: nothing is tried before 5 s of app clock, not even a delivery due now (of a
        // run started during the pause).
        let connections = *smtp.connections.lock().unwrap();
        let weekly = run_now(&app, "weekly").await;
        let_loops_poll(&app).await;
        app.clock.advance(chrono::Duration::seconds(4));
        let_loops_poll(&app).await;
        assert_eq!(*smtp.connections.lock().unwrap(), connections, "the queue was not paused");
        let w = run_view(&app, weekly).await;
        assert_eq!((w["total"].as_i64(), w["pending"].as_i64()), (Some(1), Some(1)), "{w}");
        assert_eq!(count_where(&app.database_url, weekly, "lease_owner IS NOT NULL OR last_error IS NOT NULL").await, 0);

        // A probe after the pause fails: the next pause is twice as long.
        app.clock.advance(chrono::Duration::seconds(1));
        let until = wait_given_back(&app, id, 20, pause(15)).await;
        assert!(*smtp.connections.lock().unwrap() > connections);
        check_waiting(&app, id, 20, until).await;
        assert_eq!(run_view(&app, id).await["status"], "running");

        // The relay is back: after the pause everyone is mailed once.
        smtp.set_faults(Faults::default());
        app.clock.advance(chrono::Duration::seconds(9));
        let_loops_poll(&app).await;
        assert!(smtp.messages().is_empty(), "sent before the end of the pause");
        app.clock.advance(chrono::Duration::seconds(1));
        let run = wait_run(&app, id, "after the outage", |r| r["status"] != "running").await;
        assert_eq!(run["status"], "done", "{run}");
        assert_eq!(figures(&run), [20, 0, 0, 0, 0, 0, 0], "{run}");
        let w = wait_run(&app, weekly, "the weekly run", |r| r["status"] != "running").await;
        assert_eq!((w["status"].as_str(), w["sent"].as_i64()), (Some("done"), Some(1)), "{w}");
        let per = per_recipient(&smtp);
        assert_eq!(per.len(), 21);
        assert!(per.values().all(|n| *n == 1), "{per:?}");
        for d in deliveries(&app.client, &app.base, id, "sent").await {
            assert_eq!(d["attempts"], 1, "{d}");
        }
    }

    // 6b. A relay refusing connections (nothing listens on its port), then back on that port.
    async fn a_relay_refusing_connections_pauses_the_queue_then_delivers_once(_app) {
        let backend = _app.backend;
        _app.stop().await;
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let url = format!("smtp://{addr}");
        let app = common::spawn_app_with(backend, |c| {
            c.mail.transport = MailTransport::Smtp;
            c.mail.smtp_url = Some(url);
            c.mail.rate_per_second = 1000;
        })
        .await
        .unwrap();
        let all = emails("refused", 10);
        let id = plan_run(&app, &all).await;
        let until = wait_given_back(&app, id, 10, app.clock.now() + chrono::Duration::seconds(5)).await;
        let run = run_view(&app, id).await;
        assert_eq!(run["status"], "running", "{run}");
        let [sent, _, deferred, failed, _, uncertain, pending] = figures(&run);
        assert_eq!((sent, failed, uncertain, deferred + pending), (0, 0, 0, 10), "{run}");
        check_waiting(&app, id, 10, until).await;

        let smtp = FaultSmtp::start_at(addr, Faults::default()).await;
        app.clock.advance(chrono::Duration::seconds(5));
        let run = wait_run(&app, id, "after the outage", |r| r["status"] != "running").await;
        assert_eq!(run["status"], "done", "{run}");
        assert_eq!(figures(&run), [10, 0, 0, 0, 0, 0, 0], "{run}");
        let per = per_recipient(&smtp);
        assert_eq!(per.len(), 10);
        assert!(per.values().all(|n| *n == 1), "{per:?}");
    }

    // 6c. The run figures during an outage: every delivery waits for the relay, so every one
    // counts as `deferred` ("waiting for a retry or the relay", SPEC §7) with the relay's
    // error as its last reply, none as `pending` ("not tried yet").
    async fn during_a_relay_outage_every_waiting_delivery_counts_as_deferred(_app) {
        let backend = _app.backend;
        _app.stop().await;
        let smtp = FaultSmtp::start(Faults {
            greeting: Some("421 4.3.2 service not available".into()),
            ..Faults::default()
        })
        .await;
        let app = smtp_app(backend, &smtp, |c| c.mail.rate_per_second = 1000).await;
        let id = plan_run(&app, &emails("waiting", 20)).await;
        wait_given_back(&app, id, 20, app.clock.now() + chrono::Duration::seconds(5)).await;
        let run = run_view(&app, id).await;
        let pending = deliveries(&app.client, &app.base, id, "pending").await;
        assert_eq!(
            (run["deferred"].as_i64(), run["pending"].as_i64()),
            (Some(20), Some(0)),
            "deliveries waiting for the relay are reported as not tried yet: {run}\n{pending:?}"
        );
        for d in deliveries(&app.client, &app.base, id, "deferred").await {
            let reply = d["last_reply"].as_str().unwrap_or_default();
            assert!(reply.contains("mail relay unavailable"), "{d}");
        }
    }
}

/// Waits until `n` deliveries of run `id` are back in the queue (no lease) due at `until` (the
/// end of the relay breaker's pause); returns `until`.
async fn wait_given_back(app: &TestApp, id: i64, n: i64, until: DateTime<Utc>) -> DateTime<Utc> {
    let cond = format!(
        "status = 'pending' AND lease_owner IS NULL AND next_attempt_at = {}",
        tidings::clock::to_ms(until)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let k = count_where(&app.database_url, id, &cond).await;
        if k == n {
            return until;
        }
        assert!(
            Instant::now() < deadline,
            "{k} of {n} deliveries given back until {until}: {}",
            run_view(app, id).await
        );
        app.state.digests.wakeup.notify_waiters();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `n` deliveries of run `id` wait for the relay until `until`: no attempt spent, and
/// those that met the outage say so.
async fn check_waiting(app: &TestApp, id: i64, n: usize, until: DateTime<Utc>) {
    let mut waiting = deliveries(&app.client, &app.base, id, "deferred").await;
    for d in &waiting {
        let reply = d["last_reply"].as_str().unwrap_or_default();
        assert!(
            reply.contains("mail relay unavailable"),
            "deferred without the relay's error: {d}"
        );
    }
    waiting.extend(deliveries(&app.client, &app.base, id, "pending").await);
    assert_eq!(waiting.len(), n, "{waiting:?}");
    for d in &waiting {
        assert_eq!(d["attempts"], 0, "an outage spent an attempt: {d}");
        assert!(d["last_attempt_at"].is_null(), "{d}");
        assert_eq!(at(&d["next_attempt_at"]), until, "{d}");
    }
}
