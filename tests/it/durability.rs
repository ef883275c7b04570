//! Nothing acknowledged is ever lost: concurrent writers, and a process killed mid-write.

use crate::common;

use std::{
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::StatusCode;

/// Runs `writers` concurrent publishers for `run_for`; returns every id the server acknowledged
/// and the number of non-2xx answers.
async fn hammer(
    base: &str,
    writers: usize,
    run_for: Duration,
    stop: Option<Arc<tokio::sync::Notify>>,
) -> (Vec<String>, usize) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(0usize));
    let deadline = Instant::now() + run_for;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (acked, failures, client, base, stop) = (
            acked.clone(),
            failures.clone(),
            client.clone(),
            base.to_owned(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let id = format!("w{w}-{n}");
                n += 1;
                let body = common::article(
                    if n % 2 == 0 { "news" } else { "grassroots" },
                    &format!("并发写入 {id}"),
                );
                let send = client
                    .put(format!("{base}/api/v1/articles/{id}"))
                    .bearer_auth(common::PUBLISHER_TOKEN)
                    .json(&body)
                    .send();
                let result = match &stop {
                    Some(stop) => tokio::select! { r = send => r, _ = stop.notified() => return },
                    None => send.await,
                };
                match result {
                    Ok(r) if r.status() == StatusCode::CREATED => acked.lock().unwrap().push(id),
                    Ok(r) => {
                        eprintln!("{id}: {}", r.status());
                        *failures.lock().unwrap() += 1;
                    }
                    // The connection died (the process was killed): not acknowledged.
                    Err(_) => {
                        if stop.is_some() {
                            return;
                        } else {
                            *failures.lock().unwrap() += 1
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    let failures = *failures.lock().unwrap();
    (acked, failures)
}

on_both_backends! {
    async fn fifty_concurrent_writers_for_ten_seconds_lose_nothing(app) {
        let (acked, failures) = hammer(&app.base, 50, Duration::from_secs(10), None).await;
        assert_eq!(failures, 0, "some writes were refused (database is locked?)");
        assert!(acked.len() > 200, "only {} writes in 10 s", acked.len());
        eprintln!("{:?}: {} acknowledged writes in 10 s from 50 writers", app.backend, acked.len());
        assert_eq!(app.state.store.count_articles().await.unwrap(), acked.len() as i64);
        for id in &acked {
            assert!(app.state.store.get_article(id).await.unwrap().is_some(), "{id} acknowledged but missing");
        }
    }
}

/// A `tidings serve` child process on a SQLite file; returns it and its address.
fn start_child(db_url: &str, outbox: &std::path::Path) -> (common::process::Served, String) {
    let mut command = common::process::serve_command(db_url, outbox);
    command.env("TIDINGS_AUTH__PUBLISHER_TOKEN", common::PUBLISHER_TOKEN);
    let (child, base, _) = common::process::start(command);
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_mid_write_restarts_with_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("kill.db").display());
    let (mut child, base) = start_child(&db_url, &dir.path().join("outbox"));

    let stop = Arc::new(tokio::sync::Notify::new());
    let writers = tokio::spawn({
        let base = base.clone();
        let stop = stop.clone();
        async move { hammer(&base, 16, Duration::from_secs(30), Some(stop)).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    child.wait().unwrap();
    stop.notify_waiters();
    let (acked, _) = writers.await.unwrap();
    assert!(
        acked.len() > 20,
        "too few writes before the kill: {}",
        acked.len()
    );

    let (mut again, base) = start_child(&db_url, &dir.path().join("outbox"));
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for id in &acked {
        let r = client
            .get(format!("{base}/api/v1/articles/{id}"))
            .bearer_auth(common::PUBLISHER_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{id} was acknowledged before the kill but is gone"
        );
    }
    // And it still takes writes.
    let r = client
        .put(format!("{base}/api/v1/articles/after"))
        .bearer_auth(common::PUBLISHER_TOKEN)
        .json(&common::article("news", "重启之后"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    eprintln!(
        "{} acknowledged writes all present after SIGKILL and restart",
        acked.len()
    );
    let _ = Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status();
    let status = again.wait().unwrap();
    assert!(status.success(), "SIGTERM did not exit cleanly: {status:?}");
}
