//! The mail transport on its own: encoding, failure classes, timeouts and connection reuse,
//! against the capture server and against scripted misbehaving servers.

use crate::common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::smtp::SmtpServer;
use tidings::{
    config::{Config, MailTransport},
    domain::Email,
    mail::{Email as Mail, Mailer, SendError},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::Notify,
};

fn mailer_for(url: &str, tweak: impl FnOnce(&mut Config)) -> Mailer {
    let mut c = Config::from_toml_str("").unwrap();
    c.mail.transport = MailTransport::Smtp;
    c.mail.smtp_url = Some(url.to_owned());
    c.mail.rate_per_second = 1000;
    tweak(&mut c);
    Mailer::from_config(&c, Default::default()).unwrap()
}

fn mail_to(addr: &str) -> Mail {
    Mail {
        to: Email::parse(addr).unwrap(),
        to_name: Some("王芳".into()),
        from_name: None,
        subject: "工会要闻每日摘要 2026-03-01".into(),
        text: "今天有 3 篇新文章。\nhttps://feeds.example.test/a".into(),
        html: Some("<p>今天有 <b>3</b> 篇新文章。</p>".into()),
        headers: vec![(
            "List-Id".into(),
            "工会要闻 <news.feeds.example.test>".into(),
        )],
        message_id: None,
        envelope_from: None,
    }
}

/// What a scripted server does in one session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Accepts the connection and never says a word.
    NeverGreet,
    /// Reads the start of the message after DATA, then hangs up.
    DropMidData,
    /// Takes the whole message and answers the final dot only after 600 ms.
    LateAfterData,
    /// A well-behaved server.
    Normal,
}

/// A server playing `script(n)` in its n-th session; returns its URL, the session count, and
/// a signal raised when a late reply has been written.
async fn scripted(script: fn(usize) -> Script) -> (String, Arc<AtomicUsize>, Arc<Notify>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let sessions = Arc::new(AtomicUsize::new(0));
    let late = Arc::new(Notify::new());
    let (count, signal) = (sessions.clone(), late.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(play(stream, script(n), signal.clone()));
        }
    });
    (url, sessions, late)
}

async fn play(stream: tokio::net::TcpStream, script: Script, late: Arc<Notify>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    if script == Script::NeverGreet {
        let _ = lines.next_line().await;
        return;
    }
    let _ = write.write_all(b"220 scripted ESMTP\r\n").await;
    while let Ok(Some(line)) = lines.next_line().await {
        let cmd = line.to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-scripted\r\n250 8BITMIME\r\n"
        } else if cmd.starts_with("DATA") {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            if script == Script::DropMidData {
                let _ = lines.next_line().await;
                return;
            }
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "." {
                    break;
                }
            }
            if script == Script::LateAfterData {
                tokio::time::sleep(Duration::from_millis(600)).await;
                let _ = write.write_all(b"250 queued late\r\n").await;
                late.notify_one();
                continue;
            }
            b"250 queued\r\n"
        } else if cmd.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        let _ = write.write_all(reply).await;
    }
}

#[tokio::test]
async fn non_ascii_names_and_subjects_arrive_encoded_and_read_back_intact() {
    let smtp = SmtpServer::start();
    let sent = mailer_for(&smtp.url(), |_| {})
        .send(&mail_to("wang@example.org"))
        .await
        .unwrap();
    let got = smtp.wait_for(1).await.pop().unwrap();
    assert!(got.raw.is_ascii(), "headers and bodies are 7-bit clean");
    assert_eq!(
        got.header("Subject").unwrap(),
        "工会要闻每日摘要 2026-03-01"
    );
    assert!(
        got.headers()
            .iter()
            .any(|(n, v)| n == "Subject" && v.starts_with("=?utf-8?"))
    );
    assert_eq!(got.header("To").unwrap(), "王芳 <wang@example.org>");
    assert_eq!(got.header("From").unwrap(), "青海省总工会 <news@localhost>");
    assert_eq!(
        got.header("List-Id").unwrap(),
        "工会要闻 <news.feeds.example.test>"
    );
    assert_eq!(got.header("Message-ID").unwrap(), sent.message_id);
    assert!(got.header("Date").is_some());
    assert!(
        got.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    assert!(got.text().contains("今天有 3 篇新文章。"));
    assert!(got.html().contains("<b>3</b>"));
}

#[tokio::test]
async fn a_4xx_to_rcpt_is_transient_a_5xx_is_permanent_and_the_connection_stays_usable() {
    let smtp = SmtpServer::start_with(Arc::new(|to: &str| match to {
        t if t.starts_with("busy@") => Some((451, "try later".into())),
        t if t.starts_with("gone@") => Some((550, "no such user".into())),
        _ => None,
    }));
    let mailer = mailer_for(&smtp.url(), |c| c.mail.concurrency = 1);
    assert!(matches!(
        mailer.send(&mail_to("busy@example.org")).await,
        Err(SendError::Transient(_))
    ));
    match mailer.send(&mail_to("gone@example.org")).await {
        Err(SendError::Permanent { code, .. }) => assert_eq!(code, 550),
        other => panic!("{other:?}"),
    }
    mailer.send(&mail_to("ok@example.org")).await.unwrap();
    assert_eq!(smtp.wait_for(1).await.len(), 1);
    assert_eq!(
        smtp.sessions(),
        1,
        "a refusal followed by RSET keeps the connection"
    );
}

#[tokio::test]
async fn a_server_that_never_greets_is_a_relay_outage_within_the_timeout() {
    let (url, ..) = scripted(|_| Script::NeverGreet).await;
    let mailer = mailer_for(&url, |c| c.mail.timeout = Some("300ms".into()));
    let started = Instant::now();
    let r = mailer.send(&mail_to("li@example.org")).await;
    assert!(matches!(r, Err(SendError::RelayDown(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_connection_dropped_once_the_message_was_written_is_uncertain() {
    // The whole message is in the server's hands (or its socket buffer) when the connection
    // drops: it may have been delivered, so this is not an ordinary, retry-at-once failure.
    let (url, ..) = scripted(|_| Script::DropMidData).await;
    let r = mailer_for(&url, |c| c.mail.timeout = Some("2s".into()))
        .send(&mail_to("li@example.org"))
        .await;
    assert!(matches!(r, Err(SendError::Uncertain(_))), "{r:?}");
}

#[tokio::test]
async fn a_gate_that_refuses_before_the_message_sends_nothing() {
    struct Closed;
    impl tidings::mail::Gate for Closed {
        fn before_data(&self) -> bool {
            false
        }
    }
    let smtp = SmtpServer::start();
    let mailer = mailer_for(&smtp.url(), |_| {});
    let r = mailer.send_gated(&mail_to("li@example.org"), &Closed).await;
    assert!(matches!(r, Err(SendError::NotSent)), "{r:?}");
    // The next message goes out over a fresh session: the refused one was abandoned mid-DATA.
    mailer.send(&mail_to("wang@example.org")).await.unwrap();
    let got = smtp.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, vec!["wang@example.org".to_owned()]);
}

#[tokio::test]
async fn the_step_timeouts_default_to_rfc_5321_and_mail_timeout_caps_them() {
    let c = Config::from_toml_str("").unwrap();
    let t = c.smtp_timeouts().unwrap();
    assert_eq!(t.greeting, Duration::from_secs(300));
    assert_eq!(
        (t.mail, t.rcpt),
        (Duration::from_secs(300), Duration::from_secs(300))
    );
    assert_eq!(t.data, Duration::from_secs(120));
    assert_eq!(t.data_block, Duration::from_secs(180));
    assert_eq!(
        t.data_end,
        Duration::from_secs(600),
        "10 minutes for the reply to the final dot"
    );
    let c = Config::from_toml_str(
        "[mail]\ntimeout = \"20s\"\n[mail.timeouts]\ndata_end = \"15m\"\ndata = \"5s\"\n",
    )
    .unwrap();
    let t = c.smtp_timeouts().unwrap();
    assert_eq!(
        (t.data_end, t.data, t.greeting),
        (
            Duration::from_secs(20),
            Duration::from_secs(5),
            Duration::from_secs(20)
        )
    );
    assert!(Config::from_toml_str("[mail.timeouts]\ndata_end = \"soon\"\n").is_err());
}

#[tokio::test]
async fn a_reply_that_never_comes_times_out_and_that_connection_is_never_reused() {
    // If the timed-out connection went back to the pool, the next message would read the
    // first one's late "250" as the answer to its MAIL and run one reply behind from then
    // on; it must open a new session instead.
    let (url, sessions, late) = scripted(|n| {
        if n == 0 {
            Script::LateAfterData
        } else {
            Script::Normal
        }
    })
    .await;
    let mailer = mailer_for(&url, |c| {
        c.mail.timeout = Some("300ms".into());
        c.mail.concurrency = 1;
    });
    let started = Instant::now();
    // No reply to the final "." within the timeout: the message may have arrived.
    assert!(matches!(
        mailer.send(&mail_to("a@example.org")).await,
        Err(SendError::Uncertain(_))
    ));
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "timed out before the late reply"
    );
    late.notified().await;
    mailer.send(&mail_to("b@example.org")).await.unwrap();
    assert_eq!(
        sessions.load(Ordering::SeqCst),
        2,
        "b went over a new session"
    );
    mailer.send(&mail_to("c@example.org")).await.unwrap();
    assert_eq!(
        sessions.load(Ordering::SeqCst),
        2,
        "the healthy session is reused"
    );
}

#[tokio::test]
async fn thirty_parallel_sends_share_at_most_concurrency_connections() {
    let smtp = SmtpServer::start();
    let mailer = mailer_for(&smtp.url(), |c| c.mail.concurrency = 3);
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..30 {
        let m = mailer.clone();
        sends.spawn(async move { m.send(&mail_to(&format!("p{i}@example.org"))).await });
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(smtp.wait_for(30).await.len(), 30);
    assert!(smtp.sessions() <= 3, "{} sessions", smtp.sessions());
}

#[tokio::test]
async fn tls_required_refuses_a_server_that_does_not_offer_starttls() {
    let smtp = SmtpServer::start();
    let url = format!("{}?tls=required", smtp.url());
    let r = mailer_for(&url, |_| {})
        .send(&mail_to("li@example.org"))
        .await;
    match r {
        Err(SendError::RelayDown(why)) => assert!(why.contains("STARTTLS"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn the_file_transport_writes_one_eml_file_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::from_toml_str("").unwrap();
    c.mail.outbox_dir = dir.path().join("outbox");
    let mailer = Mailer::from_config(&c, Default::default()).unwrap();
    mailer.send(&mail_to("a@example.org")).await.unwrap();
    mailer.send(&mail_to("b@example.org")).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "eml"))
    );
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
}
