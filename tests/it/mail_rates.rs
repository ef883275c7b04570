//! Send rates shared through the database (SPEC §10): `mail.rate_per_second` for every
//! process together, `[[mail.domain_limits]]` per recipient domain (held back, not waited
//! for, in digest runs), and a domain that defers our mail slowed down on its own.

use crate::common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Backend, PgDatabase, smtp::SmtpServer};
use serde_json::Value;
use tidings::{
    clock::Clock,
    config::{Config, DomainLimit, MailTransport},
    domain::Email,
    mail::{Email as Mail, Mailer, Open, SendError},
    metrics::Metrics,
    store::Store,
};

use crate::digest_delivery::{import, publish, run_now, run_view, wait_done};

/// Runs `$case(backend)` on SQLite and, when configured, on PostgreSQL.
macro_rules! on_both {
    ($($name:ident => $case:ident;)*) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$case(super::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if super::common::postgres_url().is_none() {
                        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
                        return;
                    }
                    super::$case(super::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both! {
    two_mailers_on_one_database_together_keep_to_the_rate => two_mailers_share_the_rate;
    a_mailer_whose_database_is_gone_keeps_to_the_rate_on_its_own => without_the_database;
    a_limited_domain_is_shared_and_held_back_while_other_domains_go => domain_held_back;
    a_4xx_from_a_limited_domain_pauses_that_domain_only => domain_slowed_by_a_4xx;
    a_digest_run_sends_other_domains_at_once_and_a_limited_one_in_turn => digest_limited_domain;
    a_421_from_a_limited_domain_defers_it_without_attempts_or_relay_outage => digest_421;
}

/// A database for one test, made on `backend`: its URL and, on PostgreSQL, its guard.
async fn database(backend: Backend, dir: &std::path::Path) -> (String, Option<PgDatabase>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("tidings.db").display()),
            None,
        ),
        Backend::Postgres => {
            let (url, guard) = common::create_pg_database().await;
            (url, Some(guard))
        }
    }
}

/// A store of its own on `url` (one "process"), migrated.
async fn store(url: &str) -> Store {
    let store = Store::connect_with(url, 5).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn config(
    dir: &std::path::Path,
    url: &str,
    smtp: &SmtpServer,
    tweak: impl FnOnce(&mut Config),
) -> Config {
    let mut c = common::test_config(dir, url);
    c.mail.transport = MailTransport::Smtp;
    c.mail.smtp_url = Some(smtp.url());
    c.mail.timeout = Some("5s".into());
    tweak(&mut c);
    c
}

fn limit(domain: &str, per_minute: u32) -> Vec<DomainLimit> {
    vec![DomainLimit {
        domain: domain.into(),
        per_minute,
    }]
}

fn mail_to(addr: &str) -> Mail {
    Mail {
        to: Email::parse(addr).unwrap(),
        to_name: None,
        from_name: None,
        subject: "工会要闻每日摘要".into(),
        text: "今天有 3 篇新文章。".into(),
        html: None,
        headers: Vec::new(),
        message_id: None,
        envelope_from: None,
    }
}

fn deferred(r: Result<tidings::mail::Sent, SendError>) -> (String, Duration, String) {
    match r {
        Err(SendError::Deferred {
            domain,
            retry_after,
            reason,
        }) => (domain, retry_after, reason),
        other => panic!("expected a deferral, got {other:?}"),
    }
}

/// Sends `n` messages through each mailer at once; returns how long they took together.
async fn send_together(mailers: &[Mailer], n: usize) -> Duration {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (p, m) in mailers.iter().enumerate() {
        for i in 0..n {
            let m = m.clone();
            tasks.spawn(async move { m.send(&mail_to(&format!("p{p}-{i}@example.org"))).await });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    start.elapsed()
}

async fn two_mailers_share_the_rate(backend: Backend) {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (url, _guard) = database(backend, dir.path()).await;
    const RATE: u32 = 40;
    const EACH: usize = 20;
    let config = config(dir.path(), &url, &smtp, |c| c.mail.rate_per_second = RATE);
    let mut mailers = Vec::new();
    for _ in 0..2 {
        let store = store(&url).await;
        mailers.push(Mailer::shared(&config, Default::default(), &store, &Clock::System).unwrap());
    }

    let took = send_together(&mailers, EACH).await;

    // 40 messages one interval apart span 39 intervals; each mailer alone at the rate would
    // have needed half that.
    let n = 2 * EACH;
    let floor = Duration::from_secs_f64((n - 1) as f64 / f64::from(RATE));
    assert!(
        took >= floor.mul_f64(0.95),
        "{n} messages from two mailers at {RATE}/s took {took:?}, less than {floor:?}: they did not share the rate"
    );
    assert_eq!(smtp.wait_for(n).await.len(), n);
}

async fn without_the_database(backend: Backend) {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (url, _guard) = database(backend, dir.path()).await;
    const RATE: u32 = 20;
    let config = config(dir.path(), &url, &smtp, |c| c.mail.rate_per_second = RATE);
    let store = store(&url).await;
    let mailer = Mailer::shared(&config, Default::default(), &store, &Clock::System).unwrap();
    store.close().await;

    let took = send_together(&[mailer], 10).await;

    let floor = Duration::from_secs_f64(9.0 / f64::from(RATE));
    assert!(
        took >= floor.mul_f64(0.95),
        "10 messages at {RATE}/s took {took:?} with the database gone"
    );
    assert_eq!(
        smtp.wait_for(10).await.len(),
        10,
        "mail stopped with the database"
    );
}

async fn domain_held_back(backend: Backend) {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (url, _guard) = database(backend, dir.path()).await;
    let config = config(dir.path(), &url, &smtp, |c| {
        c.mail.rate_per_second = 1000;
        // Written as an admin might: the match is on the lower-case domain.
        c.mail.domain_limits = limit("QQ.com", 60);
    });
    let clock = Clock::manual(common::test_start());
    let metrics = Arc::new(Metrics::default());
    let a = Mailer::shared(&config, metrics.clone(), &store(&url).await, &clock).unwrap();
    let b = Mailer::shared(&config, metrics.clone(), &store(&url).await, &clock).unwrap();

    a.send_gated(&mail_to("first@qq.com"), &Open).await.unwrap();
    // The other "process" sees the slot taken: one a minute is one a second.
    let (domain, retry_after, reason) =
        deferred(b.send_gated(&mail_to("second@qq.com"), &Open).await);
    assert_eq!(domain, "qq.com");
    assert_eq!(retry_after, Duration::from_secs(1));
    assert!(reason.contains("60 a minute"), "{reason}");
    // Other domains, and subdomains of the limited one, are not held back.
    b.send_gated(&mail_to("someone@example.org"), &Open)
        .await
        .unwrap();
    b.send_gated(&mail_to("member@vip.qq.com"), &Open)
        .await
        .unwrap();
    let got: Vec<String> = smtp
        .wait_for(3)
        .await
        .iter()
        .flat_map(|m| m.to.clone())
        .collect();
    assert!(
        !got.iter().any(|t| t.contains("second@")),
        "a held-back message was written: {got:?}"
    );
    assert!(
        metrics
            .render()
            .contains("tidings_mail_domain_deferrals_total{domain=\"qq.com\"} 1"),
        "{}",
        metrics.render()
    );

    clock.advance(chrono::Duration::seconds(1));
    b.send_gated(&mail_to("second@qq.com"), &Open)
        .await
        .unwrap();
    assert_eq!(smtp.wait_for(4).await.len(), 4);
}

async fn domain_slowed_by_a_4xx(backend: Backend) {
    let smtp = SmtpServer::start_with(Arc::new(|to: &str| {
        to.starts_with("busy@")
            .then(|| (450, "4.7.1 try again later".into()))
    }));
    let dir = tempfile::tempdir().unwrap();
    let (url, _guard) = database(backend, dir.path()).await;
    let config = config(dir.path(), &url, &smtp, |c| {
        c.mail.rate_per_second = 1000;
        c.mail.domain_limits = limit("qq.com", 600);
    });
    let clock = Clock::manual(common::test_start());
    let metrics = Arc::new(Metrics::default());
    let mailer = Mailer::shared(&config, metrics.clone(), &store(&url).await, &clock).unwrap();
    let other = Mailer::shared(&config, metrics.clone(), &store(&url).await, &clock).unwrap();

    // A 450 is about this message: it counts as its attempt…
    let r = mailer.send_gated(&mail_to("busy@qq.com"), &Open).await;
    assert!(matches!(r, Err(SendError::Transient(_))), "{r:?}");
    // …and pauses the domain for every process, for 30 s.
    let (_, retry_after, reason) = deferred(other.send_gated(&mail_to("ok@qq.com"), &Open).await);
    assert_eq!(retry_after, Duration::from_secs(30), "{reason}");
    assert!(reason.contains("cooling down"), "{reason}");
    // Other domains go on.
    other
        .send_gated(&mail_to("ok@example.org"), &Open)
        .await
        .unwrap();
    assert!(
        metrics
            .render()
            .contains("tidings_mail_domain_slowdowns_total{domain=\"qq.com\"} 1")
    );

    clock.advance(chrono::Duration::seconds(29));
    deferred(mailer.send_gated(&mail_to("ok@qq.com"), &Open).await);
    clock.advance(chrono::Duration::seconds(1));
    other
        .send_gated(&mail_to("ok@qq.com"), &Open)
        .await
        .unwrap();
    let got: Vec<String> = smtp
        .wait_for(2)
        .await
        .iter()
        .flat_map(|m| m.to.clone())
        .collect();
    assert_eq!(got, ["ok@example.org", "ok@qq.com"]);
}

/// The deferred deliveries of run `id`.
async fn deferred_deliveries(app: &common::TestApp, id: i64) -> Vec<Value> {
    let list: Value = app
        .client
        .get(app.url(&format!("/api/v1/runs/{id}/deliveries?status=deferred")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"].as_array().unwrap().clone()
}

/// Waits (at most 20 s) until run `id` has nothing left to send now: `sent` sent and nothing
/// pending.
async fn wait_first_pass(app: &common::TestApp, id: i64, sent: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = run_view(app, id).await;
        if v["sent"] == sent && v["pending"] == 0 {
            return v;
        }
        assert!(Instant::now() < deadline, "{v}");
        app.state.digests.wakeup.notify_waiters();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Imports `qq` subscribers at qq.com and `others` at example.org, publishes, runs now.
async fn run_to(app: &common::TestApp, qq: usize, others: usize) -> i64 {
    let mut rows = String::new();
    for i in 0..qq {
        rows.push_str(&format!("member{i}@qq.com,,daily\n"));
    }
    for i in 0..others {
        rows.push_str(&format!("member{i}@example.org,,daily\n"));
    }
    import(app, &rows).await;
    app.clock.advance(chrono::Duration::minutes(1));
    publish(app, "x", "news", "限速测试").await;
    app.clock.advance(chrono::Duration::minutes(1));
    run_now(app, "daily").await
}

/// The value of one series of the app's metrics.
fn metric(app: &common::TestApp, series: &str) -> u64 {
    let text = app.state.metrics.render();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

fn to_qq(smtp: &SmtpServer) -> usize {
    smtp.messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.ends_with("@qq.com")))
        .count()
}

async fn digest_limited_domain(backend: Backend) {
    let smtp = SmtpServer::start();
    let Some(app) = common::smtp::spawn_app_with_smtp(backend, &smtp, |c| {
        c.mail.domain_limits = limit("qq.com", 60);
    })
    .await
    else {
        return;
    };
    let id = run_to(&app, 3, 20).await;

    // The first pass: every example.org mail and the one qq.com mail whose slot was free; the
    // two others wait for their turns, no attempt spent.
    let v = wait_first_pass(&app, id, 21).await;
    assert_eq!(
        (v["deferred"].as_i64(), v["status"].as_str()),
        (Some(2), Some("running")),
        "{v}"
    );
    assert_eq!(to_qq(&smtp), 1);
    let held = deferred_deliveries(&app, id).await;
    assert_eq!(held.len(), 2, "{held:?}");
    for d in &held {
        assert_eq!(
            d["attempts"], 0,
            "a held-back delivery spent an attempt: {d}"
        );
        assert!(d["last_reply"].as_str().unwrap().contains("qq.com"), "{d}");
    }
    assert_eq!(
        metric(
            &app,
            "tidings_mail_domain_deferrals_total{domain=\"qq.com\"}"
        ),
        2
    );

    // One a second: each second of the clock lets one more through, until all have arrived.
    let deadline = Instant::now() + Duration::from_secs(20);
    while to_qq(&smtp) < 3 {
        assert!(Instant::now() < deadline, "{}", run_view(&app, id).await);
        let before = to_qq(&smtp);
        app.clock.advance(chrono::Duration::seconds(1));
        let step = Instant::now() + Duration::from_secs(5);
        while to_qq(&smtp) == before && Instant::now() < step {
            app.state.digests.wakeup.notify_waiters();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            to_qq(&smtp),
            before + 1,
            "one second of the clock, one more qq.com mail"
        );
    }
    let v = wait_done(&app, id).await;
    assert_eq!(
        (v["sent"].as_i64(), v["failed"].as_i64()),
        (Some(23), Some(0)),
        "{v}"
    );
    let recipients: Vec<String> = smtp.messages().iter().flat_map(|m| m.to.clone()).collect();
    assert!(
        common::fault_smtp::duplicates(&recipients).is_empty(),
        "{recipients:?}"
    );
}

async fn digest_421(backend: Backend) {
    let refusing = Arc::new(AtomicBool::new(true));
    let flag = refusing.clone();
    let smtp = SmtpServer::start_with(Arc::new(move |to: &str| {
        (flag.load(Ordering::SeqCst) && to.contains("@qq.com"))
            .then(|| (421, "4.7.0 frequency limited, try again later".into()))
    }));
    let Some(app) = common::smtp::spawn_app_with_smtp(backend, &smtp, |c| {
        c.mail.domain_limits = limit("qq.com", 600);
    })
    .await
    else {
        return;
    };
    let start = app.clock.now();
    let id = run_to(&app, 3, 20).await;

    // example.org all goes (the relay is not taken for down); qq.com waits out its pause.
    let v = wait_first_pass(&app, id, 20).await;
    assert_eq!(v["deferred"], 3, "{v}");
    assert_eq!(to_qq(&smtp), 0);
    let pause_ends = start + chrono::Duration::minutes(2) + chrono::Duration::seconds(30);
    for d in deferred_deliveries(&app, id).await {
        assert_eq!(d["attempts"], 0, "{d}");
        let next: chrono::DateTime<chrono::Utc> =
            d["next_attempt_at"].as_str().unwrap().parse().unwrap();
        assert!(next >= pause_ends, "retried before the pause ends: {d}");
        assert!(
            d["last_reply"]
                .as_str()
                .unwrap()
                .contains("frequency limited"),
            "{d}"
        );
    }
    // At least the first 421 slowed the domain down (others may have been on the wire then).
    assert!(
        metric(
            &app,
            "tidings_mail_domain_slowdowns_total{domain=\"qq.com\"}"
        ) >= 1
    );

    // The domain takes mail again; once the pause is over the three go out.
    refusing.store(false, Ordering::SeqCst);
    app.clock.advance(chrono::Duration::seconds(31));
    let v = wait_done(&app, id).await;
    assert_eq!(
        (v["sent"].as_i64(), v["failed"].as_i64()),
        (Some(23), Some(0)),
        "{v}"
    );
    assert_eq!(to_qq(&smtp), 3);
}
