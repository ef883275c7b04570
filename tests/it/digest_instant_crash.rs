//! An instant run survives `kill -9` of the `tidings serve` process sending it: a process
//! started again on the same database finishes the same run, and no subscriber is mailed twice
//! or forgotten. Real processes on the system clock (leases run out by themselves), a relay
//! slow to accept each message so that the kill lands in the middle of the run.

use crate::common;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    time::{Duration, Instant},
};

use common::{
    fault_smtp::{FaultSmtp, Faults, duplicates},
    process::Served,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tidings::digests::worker::SENDS_PER_CONNECTION;

const SUBSCRIBERS: usize = 60;

/// SMTP connections of a process: with [`SENDS_PER_CONNECTION`], what it can have in flight.
const CONCURRENCY: usize = 1;

mod an_instant_run_killed_mid_way_ends_with_each_subscriber_mailed_once_or_reported_uncertain {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("instant-crash.db").display());
        within_limit(killed_mid_run(&url, dir.path())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        let Some(_) = common::postgres_url() else {
            eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
            return;
        };
        let (url, _guard) = common::create_pg_database().await;
        let dir = tempfile::tempdir().unwrap();
        within_limit(killed_mid_run(&url, dir.path())).await;
    }
}

/// Fails the test after four minutes instead of letting it wait for ever (its steps wait at
/// most a minute each); dropping the scenario kills its processes.
async fn within_limit(scenario: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(240), scenario)
        .await
        .expect("the kill -9 scenario did not finish within four minutes");
}

/// `tidings serve` on `db_url` mailing through `smtp_url`: one SMTP connection, leases of 5 s,
/// and uncertain deliveries never retried (`0`), so a message that may have arrived is never
/// sent again.
async fn serve(db_url: &str, smtp_url: &str, dir: &Path) -> (Served, String) {
    let mut command = common::process::serve_smtp_command(db_url, &dir.join("outbox"), smtp_url);
    command
        .env("TIDINGS_MAIL__RATE_PER_SECOND", "400")
        .env("TIDINGS_MAIL__CONCURRENCY", CONCURRENCY.to_string())
        .env("TIDINGS_DIGESTS__LEASE_SECONDS", "5")
        .env("TIDINGS_DIGESTS__UNCERTAIN_RETRY_SECONDS", "0");
    // Reading its log until it listens blocks: off the runtime's threads.
    let (child, base, _) = tokio::task::spawn_blocking(move || common::process::start(command))
        .await
        .unwrap();
    (child, base)
}

fn email(i: usize) -> String {
    format!("m{i}@example.com")
}

/// An admin request to `path` on `base`, with `body` as JSON when given.
async fn admin(
    client: &reqwest::Client,
    method: reqwest::Method,
    base: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(common::ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Runs of `alerts`, newest first.
async fn alert_runs(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let r = admin(
        client,
        reqwest::Method::GET,
        base,
        "/api/v1/runs?schedule=alerts",
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The instant schedule `alerts`, its subscribers, then an article they follow; the id of
/// the run the process starts for it by itself.
async fn publish_to_subscribers(client: &reqwest::Client, base: &str) -> i64 {
    let r = admin(
        client,
        reqwest::Method::PUT,
        base,
        "/api/v1/schedules/alerts",
        Some(json!({"name": "快讯", "kind": "instant", "window": "10m"})),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let mut csv = String::from("email,sections,schedule\n");
    for i in 0..SUBSCRIBERS {
        csv.push_str(&format!("{},,alerts\n", email(i)));
    }
    common::import_ok(client, base, &csv).await;
    // Visible in a later millisecond than the import: imported subscribers count from it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut body = common::article("news", "断电快讯");
    body["published_at"] = chrono::Utc::now().to_rfc3339().into();
    let r = admin(
        client,
        reqwest::Method::PUT,
        base,
        "/api/v1/articles/crash",
        Some(body),
    )
    .await;
    assert!(r.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let [run] = alert_runs(client, base).await.as_slice() {
            return run["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "no instant run for the article");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `(email, status, an intent to send recorded)` of every delivery of run `id`.
async fn deliveries(url: &str, id: i64) -> Vec<(String, String, bool)> {
    with_pool!(url, |pool| {
        sqlx::query_as::<_, (String, String, Option<i64>)>(
            "SELECT s.email, d.status, d.sending_at
             FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.run_id = $1",
        )
        .bind(id)
        .fetch_all(&pool)
        .await
        .unwrap()
    })
    .into_iter()
    .map(|(email, status, sending_at)| (email, status, sending_at.is_some()))
    .collect()
}

/// Waits (at most 60 s) until run `id` is finished (`done`, or `done_with_failures`: some
/// delivery stayed uncertain); its view.
async fn wait_finished(client: &reqwest::Client, base: &str, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = admin(
            client,
            reqwest::Method::GET,
            base,
            &format!("/api/v1/runs/{id}"),
            None,
        )
        .await;
        let v: Value = r.json().await.unwrap();
        if v["status"] == "done" || v["status"] == "done_with_failures" {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} not finished after the restart: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sixty subscribers of an instant schedule; the relay waits 150 ms before taking each
/// message. Once some mail has arrived and a message is being sent, SIGKILL; a new process on
/// the same database finishes the run. Every subscriber then has exactly one mail and a `sent`
/// delivery, or is reported `uncertain` (at most one mail: it may have arrived); uncertain are
/// exactly the sends in flight at the kill; nobody has two mails; and that window has one run.
async fn killed_mid_run(url: &str, dir: &Path) {
    let smtp = FaultSmtp::start(Faults {
        data_delay: Some(Duration::from_millis(150)),
        ..Faults::default()
    })
    .await;
    let (mut first, base) = serve(url, &smtp.url(), dir).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let run_id = publish_to_subscribers(&client, &base).await;

    // Killed once some mail went out, while a message is on its way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.messages().len() < 10 || *smtp.in_data_delay.lock().unwrap() == 0 {
        assert!(Instant::now() < deadline, "the run never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = smtp.messages().len();
    assert!(
        at_kill < SUBSCRIBERS / 2,
        "{at_kill} mails before the kill: the run was nearly over; make it slower"
    );
    let in_flight: HashSet<String> = deliveries(url, run_id)
        .await
        .into_iter()
        .filter(|(_, status, sending)| status == "pending" && *sending)
        .map(|(email, ..)| email)
        .collect();
    assert!(
        !in_flight.is_empty() && in_flight.len() <= SENDS_PER_CONNECTION * CONCURRENCY,
        "sends in flight at the kill: {in_flight:?}"
    );

    // The relay is still there for the next process (the kill ended only its sessions).
    assert!(
        tokio::net::TcpStream::connect(smtp.addr).await.is_ok(),
        "the fault SMTP server stopped accepting connections at the kill"
    );
    let (mut second, base) = serve(url, &smtp.url(), dir).await;
    let run = wait_finished(&client, &base, run_id).await;
    assert!(
        smtp.messages().len() > at_kill,
        "the restarted process sent nothing"
    );

    let recipients = smtp.recipients();
    assert!(
        duplicates(&recipients).is_empty(),
        "mailed twice: {:?}",
        duplicates(&recipients)
    );
    let mut mails: HashMap<String, usize> = HashMap::new();
    for r in recipients {
        *mails.entry(r).or_default() += 1;
    }
    let rows = deliveries(url, run_id).await;
    assert_eq!(rows.len(), SUBSCRIBERS, "one delivery per subscriber");
    let mut uncertain = HashSet::new();
    for (email, status, _) in &rows {
        let got = mails.get(email).copied().unwrap_or(0);
        match status.as_str() {
            "sent" => assert_eq!(got, 1, "{email}: sent, with {got} mails"),
            "uncertain" => {
                uncertain.insert(email.clone());
            }
            other => panic!("{email}: {other} after the run finished ({got} mails)"),
        }
    }
    assert_eq!(
        uncertain, in_flight,
        "uncertain deliveries are not the sends in flight at the kill"
    );
    let sent = (SUBSCRIBERS - uncertain.len()) as i64;
    assert_eq!(
        (
            run["total"].as_i64(),
            run["sent"].as_i64(),
            run["uncertain"].as_i64(),
            run["pending"].as_i64()
        ),
        (
            Some(SUBSCRIBERS as i64),
            Some(sent),
            Some(uncertain.len() as i64),
            Some(0)
        ),
        "{run}"
    );

    // One run for the window, and nothing waits for another.
    let runs = alert_runs(&client, &base).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["id"], run_id);
    let r = admin(
        &client,
        reqwest::Method::GET,
        &base,
        "/api/v1/schedules/alerts",
        None,
    )
    .await;
    let schedule: Value = r.json().await.unwrap();
    assert_eq!(schedule["next_fire_at"], json!([]), "{schedule}");
    eprintln!(
        "killed after {at_kill} mails with {} sends in flight (uncertain); {sent} sent",
        in_flight.len()
    );
    second.kill().unwrap();
}
