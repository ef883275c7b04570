//! What a digest run tells the people who watch the logs (`TIDINGS_LOG=json`): a relay outage
//! is one warning when it starts and one line when it ends, not one warning per attempt; each
//! delivery that gives up or bounces has its own line naming the run; the end of the run is
//! one `digest run done` line with its figures. Child processes on SQLite and PostgreSQL.

use crate::common;

use std::{
    io::{BufRead, BufReader},
    process::Child,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use common::fault_smtp::{FaultSmtp, Faults};
use serde_json::Value;

/// `tidings serve` whose JSON log lines are kept.
struct Logged {
    child: Child,
    base: String,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Logged {
    fn start(db_url: &str, smtp_url: &str, dir: &std::path::Path) -> Self {
        let mut command =
            common::process::serve_smtp_command(db_url, &dir.join("outbox"), smtp_url);
        command.env("TIDINGS_DIGESTS__MAX_ATTEMPTS", "1");
        let mut child = command.spawn().expect("start tidings");
        let stdout = child.stdout.take().unwrap();
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let line = match line {
                        Ok(line) => line,
                        // Not UTF-8: skip the line, keep draining (a closed pipe would make
                        // the child's logging fail).
                        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => continue,
                        Err(_) => break,
                    };
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if v["fields"]["message"] == "tidings listening" {
                        let _ = tx.send(v["fields"]["addr"].as_str().unwrap().to_owned());
                    }
                    lines.lock().unwrap().push(v);
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("tidings never listened");
        Logged {
            child,
            base: format!("http://{addr}"),
            lines,
        }
    }

    /// Log lines whose message starts with `message`.
    fn lines_of(&self, message: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .cloned()
            .collect()
    }

    fn warnings(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["level"] == "WARN" || v["level"] == "ERROR")
            .cloned()
            .collect()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn outage_then_give_ups_are_logged_once_each(db_url: &str, dir: &std::path::Path) {
    // A relay address that refuses connections until the server starts there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = Logged::start(db_url, &format!("smtp://{addr}"), dir);
    let client = reqwest::Client::new();

    let mut csv = String::from("email,sections,schedule\n");
    for i in 0..30 {
        csv.push_str(&format!("ok{i}@example.com,,daily\n"));
    }
    csv.push_str("soft@example.com,,daily\nbad@example.com,,daily\n");
    let r = client
        .post(format!("{}/api/v1/subscribers/import", app.base))
        .bearer_auth(common::ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut body = common::article("news", "日志测试");
    body["published_at"] = Utc::now().to_rfc3339().into();
    let r = client
        .put(format!("{}/api/v1/articles/logs", app.base))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = client
        .post(format!("{}/api/v1/schedules/daily/run", app.base))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let run_id = r.json::<Value>().await.unwrap()["run_id"].as_i64().unwrap();

    // The outage: every send of the first wave fails to connect, one warning says so.
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.lines_of("mail relay unavailable").is_empty() {
        assert!(Instant::now() < deadline, "no outage logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.warnings().len(),
        1,
        "one warning for the outage, not one per attempt: {:#?}",
        app.warnings()
    );

    // The relay comes back, answering 451 once to one address (max_attempts = 1: it gives up)
    // and 550 to another.
    let smtp = FaultSmtp::start_at(
        addr,
        Faults {
            rcpt_replies: [(
                "bad@example.com".to_owned(),
                "550 5.1.1 no such user".to_owned(),
            )]
            .into(),
            transient_times: [("soft@example.com".to_owned(), 1)].into(),
            ..Faults::default()
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.lines_of("digest run done").is_empty() {
        assert!(Instant::now() < deadline, "the run did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(smtp.recipients().len(), 30);

    let back = app.lines_of("mail relay back");
    assert_eq!(back.len(), 1, "{back:#?}");
    let failed = app.lines_of("delivery failed");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["fields"]["run"], run_id);
    assert!(
        failed[0]["fields"]["error"]
            .as_str()
            .unwrap()
            .contains("451"),
        "{failed:#?}"
    );
    let bounced = app.lines_of("delivery bounced");
    assert_eq!(bounced.len(), 1, "{bounced:#?}");
    assert_eq!(bounced[0]["fields"]["run"], run_id);
    let done = app.lines_of("digest run done");
    assert_eq!(done.len(), 1, "{done:#?}");
    let f = &done[0]["fields"];
    assert_eq!(f["run"], run_id);
    assert_eq!(f["status"], "done_with_failures");
    assert_eq!(
        (
            f["sent"].as_i64(),
            f["failed"].as_i64(),
            f["bounced"].as_i64()
        ),
        (Some(30), Some(1), Some(1)),
        "{f}"
    );
    // Outage, give-up and bounce: three warnings in all.
    assert_eq!(app.warnings().len(), 3, "{:#?}", app.warnings());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_a_give_up_and_a_bounce_are_logged_once_each_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("logs.db").display());
    outage_then_give_ups_are_logged_once_each(&db_url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_a_give_up_and_a_bounce_are_logged_once_each_postgres() {
    if common::postgres_url().is_none() {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    }
    let (db_url, _guard) = common::create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    outage_then_give_ups_are_logged_once_each(&db_url, dir.path()).await;
}
