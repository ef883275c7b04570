//! Digests end to end: runs mail every active subscriber once, over the real SMTP transport,
//! with the right articles and headers; retries, bounces and timeouts are recorded.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{
    Backend, TestApp,
    fault_smtp::{FaultSmtp, Faults, duplicates},
    smtp::{SmtpServer, spawn_app_with_smtp},
};
use reqwest::StatusCode;
use serde_json::Value;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Imports `rows` (`email,sections,schedule` lines) as active subscribers.
pub(crate) async fn import(app: &TestApp, rows: &str) {
    app.import_ok(&format!("email,sections,schedule\n{rows}"))
        .await;
}

pub(crate) async fn publish(app: &TestApp, id: &str, section: &str, title: &str) {
    let mut body = common::article(section, title);
    body["published_at"] = app.clock.now().to_rfc3339().into();
    body["url"] = format!("https://www.example.org/{id}.html").into();
    let r = app.put_article(id, &body).await;
    assert!(r.status().is_success());
}

pub(crate) async fn run_now(app: &TestApp, schedule: &str) -> i64 {
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

pub(crate) async fn run_view(app: &TestApp, id: i64) -> Value {
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

/// Waits (at most 20 s) for the background worker to finish run `id`.
pub(crate) async fn wait_done(app: &TestApp, id: i64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = run_view(app, id).await;
        if v["status"] == "done" {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {id} not done: {v}"
        );
        app.state.digests.wakeup.notify_waiters();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status_of(app: &TestApp, email: &str) -> String {
    app.state
        .store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .status
        .as_str()
        .to_owned()
}

on_both_backends! {
    async fn a_run_mails_each_subscriber_their_sections_once_with_list_headers(_app) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
        import(&app, "news@example.com,news,daily\nall@example.com,,daily\nweekly@example.com,,weekly\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "n1", "news", "要闻一").await;
        publish(&app, "t1", "notices", "通知一").await;
        app.clock.advance(chrono::Duration::minutes(1));

        let id = run_now(&app, "daily").await;
        let run = wait_done(&app, id).await;
        assert_eq!((run["total"].as_i64(), run["sent"].as_i64(), run["pending"].as_i64()), (Some(2), Some(2), Some(0)), "{run}");
        let mails = smtp.wait_for(2).await;
        assert_eq!(mails.len(), 2);

        let news = &smtp.to("news@example.com")[0];
        assert!(news.text().contains("要闻一"));
        assert!(!news.text().contains("通知一"), "a section the subscriber did not choose was mailed");
        let all = &smtp.to("all@example.com")[0];
        assert!(all.html().contains("要闻一") && all.html().contains("通知一"));
        assert!(smtp.to("weekly@example.com").is_empty());

        let subject = all.header("Subject").unwrap();
        assert!(subject.contains("每日摘要"), "{subject}");
        let lu = all.header("List-Unsubscribe").unwrap();
        // Nothing reads mail sent to tidings here ([inbound] unset): no mailto is advertised.
        assert!(lu.starts_with("<http://feeds.example.test/unsubscribe?token=") && !lu.contains("mailto:"), "{lu}");
        assert_eq!(all.header("List-Unsubscribe-Post").unwrap(), "List-Unsubscribe=One-Click");
        assert!(all.header("List-Id").unwrap().contains("daily"));
        assert!(all.header("Message-ID").unwrap().starts_with("<digest."));
        assert!(all.header("Date").is_some());
        assert!(all.header("Content-Type").unwrap().contains("multipart/alternative"));

        // A mail scanner fetching every link changes nothing.
        for link in all.links() {
            let _ = app.client.get(common::smtp::local(&app, &link)).send().await;
        }
        assert_eq!(status_of(&app, "all@example.com").await, "active");

        // The one-click unsubscribe of the header works (RFC 8058) and answers 200.
        let one_click = lu.split(',').next().unwrap().trim().trim_start_matches('<').trim_end_matches('>').to_owned();
        let r = app.client.post(common::smtp::local(&app, &one_click))
            .header("content-type", "application/x-www-form-urlencoded").body("List-Unsubscribe=One-Click").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(status_of(&app, "all@example.com").await, "unsubscribed");
    }

    async fn no_article_reaches_a_subscriber_twice_and_retracted_ones_never(_app) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
        import(&app, "reader@example.com,,daily\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a", "news", "第一篇").await;
        publish(&app, "gone", "news", "撤回的文章").await;
        let r = app.client.delete(app.url("/api/v1/articles/gone")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        app.clock.advance(chrono::Duration::minutes(1));
        wait_done(&app, run_now(&app, "daily").await).await;

        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "b", "news", "第二篇").await;
        // Editing an article already mailed does not mail it again.
        let mut edited = common::article("news", "第一篇（修订）");
        edited["url"] = "https://www.example.org/a.html".into();
        app.put_article("a", &edited).await;
        app.clock.advance(chrono::Duration::minutes(1));
        wait_done(&app, run_now(&app, "daily").await).await;

        app.clock.advance(chrono::Duration::minutes(1));
        let third = wait_done(&app, run_now(&app, "daily").await).await;
        assert_eq!(third["skipped"], 1, "nothing new must mean no mail: {third}");

        let mails = smtp.wait_for(2).await;
        assert_eq!(mails.len(), 2);
        assert!(mails[0].text().contains("第一篇") && !mails[0].text().contains("第二篇"));
        assert!(mails[1].text().contains("第二篇") && !mails[1].text().contains("第一篇"), "{}", mails[1].text());
        assert!(mails.iter().all(|m| !m.text().contains("撤回")));
    }

    async fn at_most_max_articles_newest_first_and_empty_digests_only_when_asked(_app) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
        let put = |send_when_empty: bool| {
            let app = &app;
            async move {
                let r = app.client.put(app.url("/api/v1/schedules/daily")).bearer_auth(common::ADMIN_TOKEN)
                    .json(&serde_json::json!({"name": "每日摘要", "cron": "0 8 * * *", "timezone": "Asia/Shanghai",
                        "max_articles": 2, "send_when_empty": send_when_empty}))
                    .send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
            }
        };
        put(true).await;
        import(&app, "few@example.com,,daily\n").await;
        for (i, title) in ["最早的文章", "中间的文章", "最新的文章"].iter().enumerate() {
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, &format!("m{i}"), "news", title).await;
        }
        app.clock.advance(chrono::Duration::minutes(1));
        wait_done(&app, run_now(&app, "daily").await).await;
        let text = smtp.wait_for(1).await[0].text();
        let (newest, middle) = (text.find("最新的文章"), text.find("中间的文章"));
        assert!(newest.is_some() && middle.is_some() && !text.contains("最早的文章"), "{text}");
        assert!(newest < middle, "not newest first: {text}");

        // Nothing new: with send_when_empty a digest still goes out, without it nobody is mailed.
        app.clock.advance(chrono::Duration::minutes(1));
        let run = wait_done(&app, run_now(&app, "daily").await).await;
        assert_eq!((run["sent"].as_i64(), run["skipped"].as_i64()), (Some(1), Some(0)), "{run}");
        assert_eq!(smtp.wait_for(2).await.len(), 2);
        let empty = smtp.messages()[1].text();
        assert!(!empty.contains("最新的文章") && !empty.contains("中间的文章"), "an old article was sent again: {empty}");
        put(false).await;
        app.clock.advance(chrono::Duration::minutes(1));
        let run = wait_done(&app, run_now(&app, "daily").await).await;
        assert_eq!((run["sent"].as_i64(), run["skipped"].as_i64()), (Some(0), Some(1)), "{run}");
        // A marker: the next run's mail arrives, and it is the only one since the second.
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "marker", "news", "标记文章").await;
        app.clock.advance(chrono::Duration::minutes(1));
        wait_done(&app, run_now(&app, "daily").await).await;
        let mails = smtp.wait_for(3).await;
        assert_eq!(mails.len(), 3, "the skipped run mailed something");
        assert!(mails[2].text().contains("标记文章"), "{}", mails[2].text());
    }

    async fn preview_shows_what_a_subscriber_would_get_now(_app) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with_smtp(_app.backend, &smtp, |_| {}).await.unwrap();
        import(&app, "p@example.com,notices,daily\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "t", "notices", "预览通知").await;
        publish(&app, "n", "news", "不该出现").await;
        let r = app.client.get(app.url("/api/v1/schedules/daily/preview?email=p@EXAMPLE.com")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = r.text().await.unwrap();
        assert!(html.contains("预览通知") && !html.contains("不该出现"));
        assert!(smtp.messages().is_empty(), "preview sent mail");
        let r = app.client.get(app.url("/api/v1/schedules/daily/preview?email=nobody@example.com")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app.client.get(app.url("/api/v1/schedules/daily/preview")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_retry_permanent_ones_bounce_and_everyone_else_is_served() {
    faults_are_retried_or_bounced(false).await;
}

/// The same faults when the server pipelines (RFC 2920): MAIL, RCPT and DATA go in one write,
/// and a refused recipient is still told from a refused message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_pipelining_the_same_faults_are_retried_or_bounced() {
    faults_are_retried_or_bounced(true).await;
}

async fn faults_are_retried_or_bounced(pipelining: bool) {
    let smtp = FaultSmtp::start(Faults {
        pipelining,
        rcpt_replies: [(
            "bad@example.com".to_owned(),
            "550 5.1.1 no such user".to_owned(),
        )]
        .into(),
        transient_times: [("later@example.com".to_owned(), 1)].into(),
        drop_mid_data: [("dropped@example.com".to_owned(), 1)].into(),
        ..Faults::default()
    })
    .await;
    let url = smtp.url();
    let app = common::spawn_app_with(Backend::Sqlite, |c| {
        c.mail.transport = tidings::config::MailTransport::Smtp;
        c.mail.smtp_url = Some(url);
        c.mail.timeout = Some("3s".into());
        c.mail.rate_per_second = 1000;
        c.digests.uncertain_retry_seconds = 60;
    })
    .await
    .unwrap();
    let mut rows = String::new();
    for who in ["bad", "later", "dropped"] {
        rows.push_str(&format!("{who}@example.com,,daily\n"));
    }
    for i in 0..20 {
        rows.push_str(&format!("ok{i}@example.com,,daily\n"));
    }
    import(&app, &rows).await;
    app.clock.advance(chrono::Duration::minutes(1));
    publish(&app, "x", "news", "故障测试").await;
    app.clock.advance(chrono::Duration::minutes(1));
    let id = run_now(&app, "daily").await;

    // First pass: 20 ok + nothing for bad/later/dropped; then the retries fall due.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while run_view(&app, id).await["sent"].as_i64().unwrap() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            run_view(&app, id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The 451 waits for its retry (deferred); the connection dropped after the whole
    // message was written may have delivered it (uncertain: retried once, after
    // digests.uncertain_retry_seconds); the 550 bounced.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let run = loop {
        let run = run_view(&app, id).await;
        if run["pending"] == 0 && run["bounced"] == 1 {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "{run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["status"], "running", "retries are still pending: {run}");
    assert_eq!(
        (run["deferred"].as_i64(), run["uncertain"].as_i64()),
        (Some(1), Some(1)),
        "{run}"
    );
    assert_eq!(status_of(&app, "bad@example.com").await, "bounced");
    let list: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/runs/{id}/deliveries?status=bounced")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["email"], "bad@example.com", "{list}");
    assert!(
        list["items"][0]["last_reply"]
            .as_str()
            .unwrap()
            .contains("550"),
        "{list}"
    );

    app.clock.advance(chrono::Duration::minutes(2));
    let run = wait_done(&app, id).await;
    assert_eq!(
        (
            run["sent"].as_i64(),
            run["bounced"].as_i64(),
            run["failed"].as_i64(),
            run["uncertain"].as_i64(),
            run["pending"].as_i64()
        ),
        (Some(22), Some(1), Some(0), Some(0), Some(0)),
        "{run}"
    );
    assert_eq!(
        run["status"], "done",
        "a bounce is not a failure of the run: {run}"
    );
    let recipients = smtp.recipients();
    assert!(duplicates(&recipients).is_empty(), "{recipients:?}");
    assert_eq!(recipients.len(), 22);
    assert!(
        recipients.contains(&"later@example.com".to_owned())
            && recipients.contains(&"dropped@example.com".to_owned())
    );
    let pipelined = *smtp.pipelined.lock().unwrap();
    if pipelining {
        assert!(
            pipelined >= 22,
            "only {pipelined} transactions were pipelined"
        );
    } else {
        assert_eq!(pipelined, 0, "pipelined to a server that did not offer it");
    }
}

/// A relay that accepts connections but never greets is an outage, not a fault of the
/// message: the queue pauses (a circuit breaker, probing again later) without spending the
/// delivery's attempts, the run is not done while it waits, and the delivery goes out once the
/// relay answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_greets_pauses_the_queue_without_spending_attempts() {
    let smtp = FaultSmtp::start(Faults {
        never_greet: true,
        ..Faults::default()
    })
    .await;
    let url = smtp.url();
    let app = common::spawn_app_with(Backend::Sqlite, |c| {
        c.mail.transport = tidings::config::MailTransport::Smtp;
        c.mail.smtp_url = Some(url);
        c.mail.timeout = Some("1s".into());
        c.digests.max_attempts = 2;
        c.digests.lease_seconds = 3600;
    })
    .await
    .unwrap();
    import(&app, "silent@example.com,,daily\n").await;
    app.clock.advance(chrono::Duration::minutes(1));
    publish(&app, "x", "news", "超时").await;
    app.clock.advance(chrono::Duration::minutes(1));
    let id = run_now(&app, "daily").await;
    // Several probes, each after the breaker's pause (5 s, doubling), far beyond max_attempts'
    // worth of backoff. The clock moves a minute at a time: leases are renewed on real time,
    // so the manual clock must stay well within the hour-long lease while a send is in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while *smtp.connections.lock().unwrap() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            run_view(&app, id).await
        );
        app.clock.advance(chrono::Duration::minutes(1));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let v = run_view(&app, id).await;
    assert_eq!(
        v["status"], "running",
        "a run waiting for the relay is not done: {v}"
    );
    assert_eq!(
        (v["deferred"].as_i64(), v["failed"].as_i64()),
        (Some(1), Some(0)),
        "{v}"
    );
    let list: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/runs/{id}/deliveries?status=deferred")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"][0]["attempts"], 0,
        "an outage spent attempts: {list}"
    );
    assert!(
        list["items"][0]["last_reply"]
            .as_str()
            .unwrap()
            .contains("relay"),
        "{list}"
    );

    // The relay comes back: the delivery goes out once.
    smtp.set_faults(Faults::default());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = run_view(&app, id).await;
        if v["status"] == "done" {
            assert_eq!(
                (v["sent"].as_i64(), v["failed"].as_i64()),
                (Some(1), Some(0)),
                "{v}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        app.clock.advance(chrono::Duration::minutes(1));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(smtp.recipients(), vec!["silent@example.com".to_owned()]);
    assert_eq!(
        status_of(&app, "silent@example.com").await,
        "active",
        "an outage is not a bounce"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_on_one_postgres_database_mail_each_subscriber_exactly_once() {
    let Some(_) = common::postgres_url() else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    let smtp = SmtpServer::start();
    let (db_url, _guard) = common::create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = tidings::clock::Clock::manual(utc("2026-03-01T00:00:00Z"));
    let mut states = Vec::new();
    for _ in 0..3 {
        let mut config = common::test_config(dir.path(), &db_url);
        config.mail.transport = tidings::config::MailTransport::Smtp;
        config.mail.smtp_url = Some(smtp.url());
        config.mail.rate_per_second = 1000;
        let app = tidings::App::build_with_clock(config, clock.clone())
            .await
            .unwrap();
        states.push(app.state());
        tokio::spawn(app.run());
    }
    // Subscribers and an article through the first process's store.
    let store = &states[0].store;
    let mut rows = String::from("email,sections,schedule\n");
    for i in 0..150 {
        rows.push_str(&format!("r{i}@example.com,,daily\n"));
    }
    let rules = tidings::subscriptions::import::ImportRules::load(store, &states[0].config)
        .await
        .unwrap();
    tidings::subscriptions::import::import_csv(
        store,
        &rules,
        rows.as_bytes(),
        tidings::clock::to_ms(clock.now()),
        |_, _| {},
    )
    .await
    .unwrap()
    .unwrap();
    clock.advance(chrono::Duration::minutes(1));
    let mut body = common::article("news", "三个进程");
    body["published_at"] = clock.now().to_rfc3339().into();
    states[0]
        .ingest
        .put("p", serde_json::from_value(body).unwrap(), "api")
        .await
        .unwrap();

    // All three reach the daily 08:00 (00:00 UTC) instant together.
    clock.set(utc("2026-03-02T00:00:05Z"));
    let ticks: Vec<_> = states
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.digests.scheduler.tick().await.unwrap() })
        })
        .collect();
    for t in ticks {
        t.await.unwrap();
    }
    for s in &states {
        s.digests.wakeup.notify_waiters();
    }
    let mails = smtp.wait_for(150).await;
    let runs = store.list_runs(Some("daily"), None, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    // Every delivery settled (run done, all sent) before looking for a second copy of any.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let run = loop {
        let run = store.get_run(runs[0].id).await.unwrap().unwrap();
        if run.is_finished() {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "{run:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((run.status.as_str(), run.sent), ("done", 150), "{run:?}");
    let recipients: Vec<String> = smtp.messages().iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(recipients.len(), 150, "{} mails", mails.len());
    assert!(duplicates(&recipients).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_are_dkim_signed_over_both_list_unsubscribe_headers() {
    use base64::Engine;
    let smtp = SmtpServer::start();
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("dkim.key");
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    )
    .unwrap();
    let app = spawn_app_with_smtp(Backend::Sqlite, &smtp, |c| {
        c.mail.dkim_domain = Some("example.org".into());
        c.mail.dkim_selector = Some("tidings".into());
        c.mail.dkim_key_file = Some(key_file.clone());
    })
    .await
    .unwrap();
    import(&app, "signed@example.com,,daily\n").await;
    app.clock.advance(chrono::Duration::minutes(1));
    publish(&app, "s", "news", "签名").await;
    app.clock.advance(chrono::Duration::minutes(1));
    wait_done(&app, run_now(&app, "daily").await).await;
    let mail = &smtp.wait_for(1).await[0];
    let sig = mail
        .header("DKIM-Signature")
        .expect("no DKIM-Signature")
        .to_ascii_lowercase();
    assert!(
        sig.contains("d=example.org") && sig.contains("s=tidings"),
        "{sig}"
    );
    let h = sig
        .split(';')
        .map(str::trim)
        .find(|t| t.starts_with("h="))
        .unwrap()
        .replace(char::is_whitespace, "");
    for name in [
        "list-unsubscribe",
        "list-unsubscribe-post",
        "from",
        "subject",
    ] {
        assert!(
            h.split([':', '=']).any(|x| x == name),
            "{name} not signed: {h}"
        );
    }
}
