//! Instant schedules across processes: three replicas on one database send one mail, and a
//! window that ended while no process ran is mailed when one starts again.

use crate::common;

use common::{TestApp, smtp::SmtpServer};

use crate::digest_delivery::{import, publish, wait_done};
use crate::digest_instant::{alerts, runs_of};

/// An app on `url` (shared by the replicas), mailing through `smtp`, on `clock`.
async fn replica(
    dir: &std::path::Path,
    url: &str,
    backend: common::Backend,
    smtp: &SmtpServer,
    clock: &tidings::clock::Clock,
) -> (TestApp, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let mut config = common::test_config(dir, url);
    config.mail.transport = tidings::config::MailTransport::Smtp;
    config.mail.smtp_url = Some(smtp.url());
    config.mail.timeout = Some("5s".into());
    config.mail.rate_per_second = 1000;
    let app = tidings::App::build_with_clock(config, clock.clone())
        .await
        .unwrap();
    let addr = app.local_addr();
    let state = app.state();
    let task = tokio::spawn(app.run());
    let test_app = common::TestApp::attach(addr, state, clock.clone(), backend, url);
    (test_app, task)
}

mod three_replicas_on_one_database_send_one_mail {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tidings.db").display());
        three_replicas(dir.path(), &url, common::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        let Some(_) = common::postgres_url() else {
            eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
            return;
        };
        let (url, _guard) = common::create_pg_database().await;
        let dir = tempfile::tempdir().unwrap();
        three_replicas(dir.path(), &url, common::Backend::Postgres).await;
    }
}

/// Three apps on one database (on PostgreSQL, each hears of the others' publications by
/// NOTIFY; on SQLite, as several processes on one file, they only tick), one clock, one relay.
async fn three_replicas(dir: &std::path::Path, url: &str, backend: common::Backend) {
    let smtp = SmtpServer::start();
    let clock = tidings::clock::Clock::manual(common::test_start());
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(dir, url, backend, &smtp, &clock).await);
    }
    let first = &replicas[0].0;
    alerts(first).await;
    import(first, "a@example.com,,alerts\nb@example.com,news,alerts\n").await;
    clock.advance(chrono::Duration::minutes(1));

    // Published through one replica; every replica hears of it (NOTIFY) and evaluates, and
    // each also ticks on its own at the same moment.
    publish(first, "n1", "news", "要闻一").await;
    let ticks: Vec<_> = replicas
        .iter()
        .map(|(r, _)| {
            let s = r.state.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    s.digests.scheduler.tick().await.unwrap();
                }
            })
        })
        .collect();
    for t in ticks {
        t.await.unwrap();
    }
    let runs = runs_of(first, "alerts").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = wait_done(first, runs[0]["id"].as_i64().unwrap()).await;
    assert_eq!(
        (run["total"].as_i64(), run["sent"].as_i64()),
        (Some(2), Some(2)),
        "{run}"
    );
    let mails = smtp.wait_for(2).await;
    assert_eq!(mails.len(), 2, "one mail per subscriber");
    assert_eq!(smtp.to("a@example.com").len(), 1);
    assert_eq!(smtp.to("b@example.com").len(), 1);
    for (r, task) in replicas {
        r.state.shutdown.cancel();
        task.await.unwrap().unwrap();
    }
}

mod a_window_that_ended_while_down_is_mailed_at_start {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tidings.db").display());
        restart(dir.path(), &url, common::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        let Some(_) = common::postgres_url() else {
            eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
            return;
        };
        let (url, _guard) = common::create_pg_database().await;
        let dir = tempfile::tempdir().unwrap();
        restart(dir.path(), &url, common::Backend::Postgres).await;
    }
}

/// A second article waits for the window; the only process stops; the window ends while
/// nothing runs; a process started afterwards sends it, once.
async fn restart(dir: &std::path::Path, url: &str, backend: common::Backend) {
    let smtp = SmtpServer::start();
    let clock = tidings::clock::Clock::manual(common::test_start());
    let (first, task) = replica(dir, url, backend, &smtp, &clock).await;
    alerts(&first).await;
    import(&first, "a@example.com,,alerts\n").await;
    clock.advance(chrono::Duration::minutes(1));
    publish(&first, "n1", "news", "要闻一").await;
    smtp.wait_for(1).await;
    clock.advance(chrono::Duration::minutes(2));
    publish(&first, "n2", "news", "要闻二").await;
    first.state.shutdown.cancel();
    task.await.unwrap().unwrap();
    drop(first);

    clock.advance(chrono::Duration::minutes(30));
    let (second, task) = replica(dir, url, backend, &smtp, &clock).await;
    let mails = smtp.wait_for(2).await;
    assert!(mails[1].html().contains("要闻二") && !mails[1].html().contains("要闻一"));
    let runs = runs_of(&second, "alerts").await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    // It fired at the window's end (00:11), though sent at the restart.
    assert_eq!(runs[1]["fire_at"], "2026-03-01T00:11:00Z");
    wait_done(&second, runs[1]["id"].as_i64().unwrap()).await;
    second.state.shutdown.cancel();
    task.await.unwrap().unwrap();
}
