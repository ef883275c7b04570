//! The IMAP poller against a real Dovecot (tests/it/common/dovecot.rs): what reaches the sink,
//! what stays in the mailbox when the sink refuses, crashes and shutdowns, limits, bad
//! credentials and TLS. No database: the sink here records what it is given.

use crate::common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::dovecot::{Dovecot, PASSWORD};
use futures_util::future::BoxFuture;
use tidings::{
    config::InboundConfig,
    inbound::{
        Inbound, Sink, Via,
        imap::{Limits, PollReport, poll, poll_once, run},
    },
};
use tokio_util::sync::CancellationToken;

const MAX: usize = 1024 * 1024;

/// A sink that keeps what it is given and refuses messages holding `refuse` while set.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<Inbound>>,
    refuse: Mutex<Option<String>>,
}

impl Recorder {
    fn refusing(marker: &str) -> Self {
        Self {
            refuse: Mutex::new(Some(marker.to_owned())),
            ..Self::default()
        }
    }

    fn raws(&self) -> Vec<Vec<u8>> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.raw.clone())
            .collect()
    }

    fn len(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

impl Sink for Recorder {
    fn accepts(&self, _address: &str) -> bool {
        true
    }

    fn deliver(&self, message: Inbound) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            if let Some(marker) = self.refuse.lock().unwrap().as_deref()
                && String::from_utf8_lossy(&message.raw).contains(marker)
            {
                anyhow::bail!("the recorder refuses {marker}");
            }
            self.got.lock().unwrap().push(message);
            Ok(())
        })
    }
}

/// A bounce-like message numbered `n`, CRLF throughout.
fn bounce(n: usize) -> Vec<u8> {
    format!(
        "Delivered-To: Bounces@Corp.example\r\n\
         To: <Bounces+Tok{n}@News.Example>\r\n\
         From: MAILER-DAEMON@mx.example\r\n\
         Subject: Undelivered Mail Returned to Sender {n}\r\n\
         Message-ID: <{n}.bounce@mx.example>\r\n\
         \r\n\
         The mail system said no to message {n}.\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn three_messages_reach_the_sink_with_their_bytes_and_recipients_and_leave_the_mailbox() {
    let server = Dovecot::start();
    for n in 1..=3 {
        server.append("INBOX", &bounce(n)).await;
    }
    let sink = Recorder::default();

    let report = poll_once(&server.url(), "INBOX", &sink, MAX).await.unwrap();

    assert_eq!(
        report,
        PollReport {
            fetched: 3,
            delivered: 3,
            failed: 0,
            too_big: 0
        }
    );
    assert_eq!(sink.raws(), [bounce(1), bounce(2), bounce(3)]);
    let got: Vec<Inbound> = sink.got.lock().unwrap().clone();
    assert_eq!(
        got[1].recipients,
        ["bounces@corp.example", "bounces+tok2@news.example"]
    );
    assert!(got.iter().all(|m| m.via == Via::Imap && m.peer.is_none()));
    assert_eq!(server.count("INBOX").await, 0, "the mailbox is emptied");
}

#[tokio::test]
async fn a_message_the_sink_refuses_stays_and_the_next_poll_delivers_it() {
    let server = Dovecot::start();
    for n in 1..=3 {
        server.append("INBOX", &bounce(n)).await;
    }
    let sink = Recorder::refusing("message 2.");

    let first = poll_once(&server.url(), "INBOX", &sink, MAX).await.unwrap();

    assert_eq!((first.fetched, first.delivered, first.failed), (3, 2, 1));
    assert_eq!(sink.raws(), [bounce(1), bounce(3)]);
    let left = server.messages("INBOX").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, bounce(2));
    assert!(
        !left[0]
            .1
            .iter()
            .any(|f| f.contains("Seen") || f.contains("Deleted")),
        "the refused message is left as it was: {:?}",
        left[0].1
    );

    *sink.refuse.lock().unwrap() = None;
    let second = poll_once(&server.url(), "INBOX", &sink, MAX).await.unwrap();

    assert_eq!((second.fetched, second.delivered, second.failed), (1, 1, 0));
    assert_eq!(sink.raws(), [bounce(1), bounce(3), bounce(2)]);
    assert_eq!(server.count("INBOX").await, 0);
}

#[tokio::test]
async fn a_wrong_password_is_a_login_error_that_names_no_password() {
    let server = Dovecot::start();
    server.append("INBOX", &bounce(1)).await;
    let sink = Recorder::default();
    let wrong = "Wr0ng-s3cret";

    let err = poll_once(&server.url_with(wrong, "tls=none"), "INBOX", &sink, MAX)
        .await
        .unwrap_err();

    let text = format!("{err:#}");
    assert!(text.contains("login") && text.contains("failed"), "{text}");
    assert!(
        text.contains("bounces@corp.example"),
        "names the user: {text}"
    );
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    assert_eq!(sink.len(), 0);
    assert_eq!(server.count("INBOX").await, 1);
}

#[tokio::test]
async fn a_message_over_max_bytes_is_counted_flagged_and_left_unfetched() {
    let server = Dovecot::start();
    let mut big = bounce(2);
    big.extend(std::iter::repeat_n(b'x', 8000));
    big.extend(b"\r\n");
    server.append("INBOX", &bounce(1)).await;
    server.append("INBOX", &big).await;
    let sink = Recorder::default();

    let report = poll_once(&server.url(), "INBOX", &sink, 4096)
        .await
        .unwrap();

    assert_eq!(
        report,
        PollReport {
            fetched: 1,
            delivered: 1,
            failed: 0,
            too_big: 1
        }
    );
    assert_eq!(sink.raws(), [bounce(1)]);
    let left = server.messages("INBOX").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, big);
    assert!(left[0].1.iter().any(|f| f == "Flagged"), "{:?}", left[0].1);
    assert!(
        !left[0].1.iter().any(|f| f.contains("Seen")),
        "never fetched: {:?}",
        left[0].1
    );
    // The next poll does not count (or look at) it again.
    let again = poll_once(&server.url(), "INBOX", &sink, 4096)
        .await
        .unwrap();
    assert_eq!(again, PollReport::default());
}

#[tokio::test]
async fn a_poll_takes_at_most_max_messages_and_the_next_takes_the_rest() {
    let server = Dovecot::start();
    for n in 1..=3 {
        server.append("INBOX", &bounce(n)).await;
    }
    let sink = Recorder::default();
    let limits = Limits {
        max_messages: 2,
        ..Limits::default()
    };
    let never = CancellationToken::new();

    let first = poll(&server.url(), "INBOX", &sink, &limits, &never)
        .await
        .unwrap();
    assert_eq!(first.delivered, 2);
    assert_eq!(server.count("INBOX").await, 1);
    let second = poll(&server.url(), "INBOX", &sink, &limits, &never)
        .await
        .unwrap();

    assert_eq!(second.delivered, 1);
    assert_eq!(sink.raws(), [bounce(1), bounce(2), bounce(3)]);
}

#[tokio::test]
async fn a_message_taken_by_a_poll_that_died_before_expunge_is_expunged_not_delivered_again() {
    let server = Dovecot::start();
    // As a poll leaves a message the sink took, when it dies before its EXPUNGE.
    server
        .append_flagged("INBOX", &bounce(1), Some("(\\Deleted $TidingsDone)"))
        .await;
    server.append("INBOX", &bounce(2)).await;
    let sink = Recorder::default();

    let report = poll_once(&server.url(), "INBOX", &sink, MAX).await.unwrap();

    assert_eq!(report.delivered, 1);
    assert_eq!(sink.raws(), [bounce(2)]);
    assert_eq!(server.count("INBOX").await, 0);
}

#[tokio::test]
async fn a_message_someone_else_flagged_deleted_is_neither_delivered_nor_expunged() {
    let server = Dovecot::start();
    // A person's mail client marked it for deletion; that is theirs to expunge (Dovecot has
    // UIDPLUS, so the poller expunges only what it took).
    server
        .append_flagged("INBOX", &bounce(1), Some("(\\Deleted)"))
        .await;
    server.append("INBOX", &bounce(2)).await;
    let sink = Recorder::default();

    let report = poll_once(&server.url(), "INBOX", &sink, MAX).await.unwrap();

    assert_eq!(report.delivered, 1);
    assert_eq!(sink.raws(), [bounce(2)]);
    let left = server.messages("INBOX").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, bounce(1));
}

#[tokio::test]
async fn a_non_default_folder_with_a_chinese_name_is_read_and_inbox_left_alone() {
    let server = Dovecot::start();
    server.create("&kABP4Q-").await; // 退信 in modified UTF-7, as a mail client creates it
    server.append("&kABP4Q-", &bounce(1)).await;
    server.append("INBOX", &bounce(2)).await;
    let sink = Recorder::default();

    let report = poll_once(&server.url(), "退信", &sink, MAX).await.unwrap();

    assert_eq!(report.delivered, 1);
    assert_eq!(sink.raws(), [bounce(1)]);
    assert_eq!(server.count("&kABP4Q-").await, 0);
    assert_eq!(server.count("INBOX").await, 1);
}

#[tokio::test]
async fn a_missing_folder_is_an_error_naming_it() {
    let server = Dovecot::start();
    let sink = Recorder::default();

    let err = poll_once(&server.url(), "Bounces", &sink, MAX)
        .await
        .unwrap_err();

    let text = format!("{err:#}");
    assert!(
        text.contains("\"Bounces\"") && text.contains("SELECT"),
        "{text}"
    );
}

#[tokio::test]
async fn run_polls_again_after_the_interval_and_stops_on_shutdown() {
    let server = Dovecot::start();
    server.append("INBOX", &bounce(1)).await;
    let sink = Arc::new(Recorder::default());
    let config = InboundConfig {
        imap_url: Some(server.url()),
        interval: "1s".into(),
        ..InboundConfig::default()
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (sink, shutdown) = (sink.clone(), shutdown.clone());
        async move { run(&config, sink, shutdown).await }
    });

    wait_for(|| sink.len() == 1, "the first poll").await;
    server.append("INBOX", &bounce(2)).await;
    wait_for(|| sink.len() == 2, "a poll one interval later").await;
    shutdown.cancel();

    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("run returns promptly on shutdown")
        .unwrap();
    assert_eq!(sink.raws(), [bounce(1), bounce(2)]);
}

#[tokio::test]
async fn run_logs_a_failing_login_without_the_password_and_tries_again() {
    let server = Dovecot::start();
    let wrong = "Wr0ng-s3cret";
    let config = InboundConfig {
        imap_url: Some(server.url_with(wrong, "tls=none")),
        interval: "1s".into(),
        ..InboundConfig::default()
    };
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish(),
    );
    let shutdown = CancellationToken::new();
    let polls = run(&config, Arc::new(Recorder::default()), shutdown.clone());
    let watch = async {
        wait_for(
            || logs.text().matches("inbound IMAP poll failed").count() >= 2,
            "two failed polls",
        )
        .await;
        shutdown.cancel();
    };

    tokio::time::timeout(
        Duration::from_secs(15),
        futures_util::future::join(polls, watch),
    )
    .await
    .expect("run keeps polling, then stops on shutdown");

    let text = logs.text();
    assert!(text.contains("WARN") && text.contains("login"), "{text}");
    assert!(!text.contains(wrong) && !text.contains("Wr0ng"), "{text}");
}

#[tokio::test]
async fn imap_without_starttls_refuses_to_send_the_password_unless_told_tls_none() {
    let server = Dovecot::start();
    let sink = Recorder::default();

    let err = poll_once(&server.url_with(PASSWORD, ""), "INBOX", &sink, MAX)
        .await
        .unwrap_err();

    assert!(
        format!("{err:#}").contains("does not offer STARTTLS"),
        "{err:#}"
    );
    assert!(
        !server.log().contains("Login: user="),
        "no login was tried:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn starttls_and_imaps_refuse_a_certificate_no_authority_signed() {
    let server = Dovecot::start_with_tls();
    let sink = Recorder::default();

    for url in [
        server.url_with(PASSWORD, ""),
        server.url_with(PASSWORD, "tls=opportunistic"),
        server.imaps_url(),
    ] {
        let err = poll_once(&url, "INBOX", &sink, MAX).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("TLS") && text.contains("certificate"),
            "{url}: {text}"
        );
    }
    assert!(!server.log().contains("Login: user="), "{}", server.log());
}

#[tokio::test]
async fn a_server_that_never_greets_is_a_timeout_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(socket);
    });
    let limits = Limits {
        command_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let url = format!("imap://u:p@127.0.0.1:{port}/?tls=none");

    let err = poll(
        &url,
        "INBOX",
        &Recorder::default(),
        &limits,
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();

    let text = format!("{err:#}");
    assert!(
        text.contains("greeting") && text.contains("no answer within"),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_stops_run_in_the_middle_of_a_command_without_waiting_for_its_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(0));
    let _silent = tokio::spawn({
        let accepted = accepted.clone();
        async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                *accepted.lock().unwrap() += 1;
                held.push(socket);
            }
        }
    });
    let config = InboundConfig {
        imap_url: Some(format!("imap://u:p@127.0.0.1:{port}/?tls=none")),
        ..InboundConfig::default()
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { run(&config, Arc::new(Recorder::default()), shutdown).await }
    });

    wait_for(|| *accepted.lock().unwrap() == 1, "the poller to connect").await;
    shutdown.cancel();

    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("run returns on shutdown, not after the 30 s greeting timeout")
        .unwrap();
}

/// Waits (at most 10 s) for `done`, checking every 20 ms.
async fn wait_for(done: impl Fn() -> bool, what: &str) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("waited 10 s for {what}");
}

/// Log lines written by a test's own subscriber.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
