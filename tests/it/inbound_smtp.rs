//! The built-in SMTP receiver (`[inbound] bind`, SPEC §10) over real TCP on 127.0.0.1: lettre
//! sends as a mail server would, raw conversations check the exact replies, and a recording
//! sink keeps what arrives. No database is involved.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::future::BoxFuture;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
use tidings::{
    clock::Clock,
    config::InboundConfig,
    inbound::{
        Inbound, Sink, Via,
        receiver::{self, Limits},
    },
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// Longest a test waits for the receiver before it fails (a guard, not a schedule).
const PATIENCE: Duration = Duration::from_secs(10);
const BOUNCE: &str = "bounces+abc123@bounce.example.org";

/// A sink that takes `bounces+…@bounce.example.org` and `unsubscribe+…@bounce.example.org`,
/// keeps every message, and fails on demand.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<Inbound>>,
    failing: AtomicBool,
}

impl Sink for Recorder {
    fn accepts(&self, address: &str) -> bool {
        match address.rsplit_once('@') {
            Some((local, "bounce.example.org")) => {
                local.starts_with("bounces+") || local.starts_with("unsubscribe+")
            }
            _ => false,
        }
    }

    fn deliver(&self, message: Inbound) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            if self.failing.load(Ordering::SeqCst) {
                anyhow::bail!("store unavailable (test)");
            }
            self.got.lock().unwrap().push(message);
            Ok(())
        })
    }
}

impl Recorder {
    fn got(&self) -> Vec<Inbound> {
        self.got.lock().unwrap().clone()
    }
}

/// A receiver serving on a port of its own.
struct Receiver {
    addr: SocketAddr,
    sink: Arc<Recorder>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn limits() -> Limits {
    Limits {
        hostname: "mx.test".into(),
        idle_timeout: PATIENCE * 3,
        ..Limits::from_config(&InboundConfig::default())
    }
}

async fn start(limits: Limits) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(receiver::serve(
        listener,
        sink.clone(),
        limits,
        shutdown.clone(),
    ));
    Receiver {
        addr,
        sink,
        shutdown,
        task: Some(task),
    }
}

fn lettre(addr: SocketAddr) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(PATIENCE))
        .build()
}

fn envelope(from: Option<&str>, to: &[&str]) -> Envelope {
    let to = to.iter().map(|a| a.parse().unwrap()).collect();
    Envelope::new(from.map(|f| f.parse().unwrap()), to).unwrap()
}

/// A raw SMTP client that reads whole (multi-line) replies.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects and returns the client with the server's first reply.
    async fn connect(addr: SocketAddr) -> (Self, String) {
        let (read, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut client = Self {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = client.reply().await;
        (client, greeting)
    }

    /// Connected and greeted with EHLO.
    async fn hello(addr: SocketAddr) -> Self {
        let (mut client, greeting) = Self::connect(addr).await;
        assert!(greeting.starts_with("220 mx.test"), "{greeting}");
        let ehlo = client.send("EHLO client.example").await;
        assert_eq!(code(&ehlo), 250, "{ehlo}");
        client
    }

    /// The next reply, all its lines; empty when the server closed the connection.
    async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(PATIENCE, self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            reply.push_str(&line);
            if n == 0 || line.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Sends one command line and returns the reply.
    async fn send(&mut self, line: &str) -> String {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// MAIL, RCPT, DATA and `body` (already dot-stuffed, ending in CRLF) and the final ".".
    async fn mail(&mut self, to: &str, body: &str) -> String {
        assert_eq!(code(&self.send("MAIL FROM:<>").await), 250);
        assert_eq!(code(&self.send(&format!("RCPT TO:<{to}>")).await), 250);
        assert_eq!(code(&self.send("DATA").await), 354);
        self.write(format!("{body}.\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Whether the server has closed the connection (reads what is left until it does).
    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(PATIENCE, self.reader.read_to_end(&mut rest)).await;
        matches!(read, Ok(Ok(_)))
    }
}

fn code(reply: &str) -> u16 {
    reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0)
}

const DSN: &[u8] = b"From: MAILER-DAEMON@mx.example.net\r\n\
To: bounces+abc123@bounce.example.org\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\
\r\n\
--b\r\n\
\r\n\
The mail could not be delivered.\r\n\
.A line that begins with a dot\r\n\
--b--";

#[tokio::test]
async fn a_dsn_from_the_null_sender_reaches_the_sink_with_its_bytes_and_recipients() {
    let r = start(limits()).await;
    let to = [BOUNCE, "Unsubscribe+XYZ@Bounce.Example.org"];
    lettre(r.addr)
        .send_raw(&envelope(None, &to), DSN)
        .await
        .unwrap();

    let got = r.sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].recipients,
        [BOUNCE, "unsubscribe+xyz@bounce.example.org"]
    );
    // lettre ends the last line with CRLF before the final "."; the dotted line is unstuffed.
    assert_eq!(got[0].raw, [DSN, b"\r\n"].concat());
    assert_eq!(got[0].via, Via::Smtp);
    assert_eq!(got[0].peer, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
}

#[tokio::test]
async fn a_foreign_recipient_is_refused_with_550_and_nothing_reaches_the_sink() {
    let r = start(limits()).await;
    for foreign in [
        "someone@elsewhere.example",
        "bounces+abc123@elsewhere.example",
        "postmaster@bounce.example.org",
    ] {
        let err = lettre(r.addr)
            .send_raw(&envelope(Some("a@b.example"), &[foreign]), DSN)
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "{foreign}: {err}");
        assert_eq!(err.status().map(u16::from), Some(550), "{foreign}");
    }
    assert!(r.sink.got().is_empty());
}

#[tokio::test]
async fn a_raw_conversation_gets_exact_reply_codes_and_no_relay() {
    let r = start(limits()).await;
    let (mut c, greeting) = Client::connect(r.addr).await;
    assert_eq!(greeting, "220 mx.test ESMTP\r\n");
    assert_eq!(code(&c.send("MAIL FROM:<>").await), 503, "MAIL before EHLO");
    let ehlo = c.send("EHLO client.example").await;
    assert_eq!(
        ehlo, "250-mx.test\r\n250-SIZE 2097152\r\n250-8BITMIME\r\n250 PIPELINING\r\n",
        "no STARTTLS, no AUTH"
    );
    assert_eq!(code(&c.send(&format!("RCPT TO:<{BOUNCE}>")).await), 503);
    assert_eq!(c.send("MAIL FROM:<>").await, "250 2.1.0 sender ok\r\n");
    assert_eq!(
        c.send("RCPT TO:<victim@gmail.example>").await,
        "550 5.1.1 no such user here\r\n"
    );
    assert_eq!(code(&c.send("DATA").await), 503, "no recipient yet");
    assert_eq!(
        c.send(&format!("RCPT TO:<{BOUNCE}>")).await,
        "250 2.1.5 recipient ok\r\n"
    );
    assert_eq!(code(&c.send("RCPT TO:<bad address>").await), 501);
    assert_eq!(
        code(&c.send("RCPT TO:<x@y.example> NOTIFY=NEVER").await),
        555
    );
    assert_eq!(code(&c.send("STARTTLS").await), 502);
    assert_eq!(code(&c.send("AUTH PLAIN AGEAYg==").await), 502);
    assert_eq!(code(&c.send("NOOP").await), 250);
    assert_eq!(code(&c.send("RSET").await), 250);
    assert_eq!(
        code(&c.send("DATA").await),
        503,
        "RSET ended the transaction"
    );
    assert_eq!(code(&c.send("QUIT").await), 221);
    assert!(c.closed().await);
    assert!(r.sink.got().is_empty());
}

#[tokio::test]
async fn an_oversized_message_gets_552_and_the_same_connection_then_delivers_a_small_one() {
    let r = start(Limits {
        max_message_bytes: 4096,
        ..limits()
    })
    .await;
    let mut c = Client::hello(r.addr).await;
    // Lines that add up past the limit, then one line longer than the whole limit.
    let lines = ("x".repeat(98) + "\r\n").repeat(60);
    let big = format!("Subject: big\r\n\r\n{lines}{}\r\n", "y".repeat(20_000));
    assert_eq!(c.mail(BOUNCE, &big).await, "552 5.3.4 message too big\r\n");

    let small = "Subject: small\r\n\r\nhello\r\n";
    assert_eq!(c.mail(BOUNCE, small).await, "250 2.0.0 queued\r\n");
    let got = r.sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].raw, small.as_bytes());
}

#[tokio::test]
async fn a_declared_size_over_the_limit_is_refused_at_mail_from() {
    let r = start(Limits {
        max_message_bytes: 4096,
        ..limits()
    })
    .await;
    let mut c = Client::hello(r.addr).await;
    assert_eq!(
        c.send("MAIL FROM:<> SIZE=4097").await,
        "552 5.3.4 message too big\r\n"
    );
    assert_eq!(
        code(&c.send("MAIL FROM:<> SIZE=4096 BODY=8BITMIME").await),
        250
    );
}

#[tokio::test]
async fn the_per_ip_limit_answers_450_after_n_messages_and_lifts_with_time() {
    let clock = Clock::manual(chrono::Utc::now());
    let r = start(Limits {
        per_ip_per_minute: 3,
        clock: clock.clone(),
        ..limits()
    })
    .await;
    let mut c = Client::hello(r.addr).await;
    for n in 0..3 {
        let reply = c.mail(BOUNCE, &format!("Subject: {n}\r\n\r\nx\r\n")).await;
        assert_eq!(code(&reply), 250, "message {n}");
    }
    assert_eq!(
        c.send("MAIL FROM:<>").await,
        "450 4.7.1 too many messages, try later\r\n"
    );
    // Another connection from the same address is the same client.
    let mut other = Client::hello(r.addr).await;
    assert_eq!(code(&other.send("MAIL FROM:<>").await), 450);
    assert_eq!(r.sink.got().len(), 3);

    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(code(&c.mail(BOUNCE, "Subject: 3\r\n\r\nx\r\n").await), 250);
    assert_eq!(r.sink.got().len(), 4);
}

#[tokio::test]
async fn a_sink_error_answers_451_and_the_retry_is_delivered() {
    let r = start(limits()).await;
    r.sink.failing.store(true, Ordering::SeqCst);
    let smtp = lettre(r.addr);
    let err = smtp
        .send_raw(&envelope(None, &[BOUNCE]), DSN)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.status().map(u16::from), Some(451));
    assert!(r.sink.got().is_empty());

    r.sink.failing.store(false, Ordering::SeqCst);
    smtp.send_raw(&envelope(None, &[BOUNCE]), DSN)
        .await
        .unwrap();
    assert_eq!(r.sink.got().len(), 1);
}

#[tokio::test]
async fn dot_stuffed_lines_arrive_unstuffed() {
    let r = start(limits()).await;
    let mut c = Client::hello(r.addr).await;
    let sent = "Subject: dots\r\n\r\n..leading dot\r\n...\r\n.. \r\nend\r\n";
    assert_eq!(code(&c.mail(BOUNCE, sent).await), 250);
    assert_eq!(
        r.sink.got()[0].raw,
        b"Subject: dots\r\n\r\n.leading dot\r\n..\r\n. \r\nend\r\n"
    );
}

#[tokio::test]
async fn a_dot_after_a_bare_line_feed_does_not_end_the_message() {
    let r = start(limits()).await;
    let mut c = Client::hello(r.addr).await;
    let reply = c
        .mail(BOUNCE, "Subject: one\r\n\r\nx\n.\r\nstill text\r\n")
        .await;
    assert_eq!(code(&reply), 250, "{reply}");
    let got = r.sink.got();
    assert_eq!(got.len(), 1, "one message, not two");
    assert_eq!(got[0].raw, b"Subject: one\r\n\r\nx\r\n.\r\nstill text\r\n");
}

#[tokio::test]
async fn more_than_ten_recipients_get_452() {
    let r = start(limits()).await;
    let mut c = Client::hello(r.addr).await;
    assert_eq!(code(&c.send("MAIL FROM:<>").await), 250);
    for n in 0..10 {
        let reply = c
            .send(&format!("RCPT TO:<bounces+{n}@bounce.example.org>"))
            .await;
        assert_eq!(code(&reply), 250, "recipient {n}");
    }
    assert_eq!(
        c.send("RCPT TO:<bounces+10@bounce.example.org>").await,
        "452 4.5.3 too many recipients\r\n"
    );
    assert_eq!(code(&c.send("DATA").await), 354);
    c.write(b"Subject: many\r\n\r\nx\r\n.\r\n").await;
    assert_eq!(code(&c.reply().await), 250);
    assert_eq!(r.sink.got()[0].recipients.len(), 10);
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order() {
    let r = start(limits()).await;
    let mut c = Client::hello(r.addr).await;
    c.write(
        format!("MAIL FROM:<>\r\nRCPT TO:<x@elsewhere.example>\r\nRCPT TO:<{BOUNCE}>\r\nDATA\r\n")
            .as_bytes(),
    )
    .await;
    let codes = [
        code(&c.reply().await),
        code(&c.reply().await),
        code(&c.reply().await),
        code(&c.reply().await),
    ];
    assert_eq!(codes, [250, 550, 250, 354]);
    c.write(b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n").await;
    assert_eq!(code(&c.reply().await), 250);
    assert_eq!(code(&c.reply().await), 221);
    assert_eq!(r.sink.got()[0].recipients, [BOUNCE]);
}

#[tokio::test]
async fn a_silent_client_is_told_421_and_closed() {
    let r = start(Limits {
        idle_timeout: Duration::from_millis(200),
        ..limits()
    })
    .await;
    let (mut c, _) = Client::connect(r.addr).await;
    let reply = c.reply().await;
    assert!(reply.starts_with("421 4.4.2 mx.test idle"), "{reply}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn garbage_overlong_lines_and_a_client_leaving_mid_data_leave_the_receiver_serving() {
    // One slot: a session that leaked it would leave every later client "busy".
    let r = start(Limits {
        max_connections: 1,
        ..limits()
    })
    .await;
    let mut c = Client::hello(r.addr).await;
    c.write(b"\x00\xff\xfe\x80garbage\r\n").await;
    assert_eq!(code(&c.reply().await), 500);
    assert_eq!(
        c.send(&"A".repeat(20_000)).await,
        "500 5.5.2 line too long\r\n"
    );
    assert_eq!(code(&c.send("MAIL FROM:<>").await), 250);
    assert_eq!(code(&c.send(&format!("RCPT TO:<{BOUNCE}>")).await), 250);
    assert_eq!(code(&c.send("DATA").await), 354);
    c.write(b"Subject: cut short\r\n\r\nhalf a li").await;
    // The client leaves (FIN); the receiver drops the message and the connection.
    c.writer.shutdown().await.unwrap();
    assert!(c.closed().await);

    let mut next = Client::hello(r.addr).await;
    assert_eq!(
        code(&next.mail(BOUNCE, "Subject: ok\r\n\r\nx\r\n").await),
        250
    );
    let got = r.sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].raw, b"Subject: ok\r\n\r\nx\r\n");
}

#[tokio::test]
async fn a_client_sending_only_errors_is_disconnected() {
    let r = start(limits()).await;
    let (mut c, _) = Client::connect(r.addr).await;
    for _ in 0..20 {
        assert_eq!(code(&c.send("\x01\x02 nonsense").await), 500);
    }
    let last = c.reply().await;
    assert!(last.starts_with("421 4.7.0"), "{last}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn connections_over_max_connections_get_421_busy() {
    let r = start(Limits {
        max_connections: 1,
        ..limits()
    })
    .await;
    let (mut first, greeting) = Client::connect(r.addr).await;
    assert_eq!(code(&greeting), 220);
    let (mut second, refused) = Client::connect(r.addr).await;
    assert!(refused.starts_with("421 4.3.2 busy"), "{refused}");
    assert!(second.closed().await);

    assert_eq!(code(&first.send("QUIT").await), 221);
    assert!(first.closed().await);
    let (_third, greeting) = Client::connect(r.addr).await;
    assert_eq!(code(&greeting), 220, "the slot was given back");
}

#[tokio::test]
async fn shutdown_makes_serve_return_and_tells_waiting_clients() {
    let mut r = start(limits()).await;
    let mut c = Client::hello(r.addr).await;

    r.shutdown.cancel();
    let task = r.task.take().unwrap();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("serve returns")
        .unwrap();
    let reply = c.reply().await;
    assert!(
        reply.starts_with("421 4.3.2 mx.test shutting down"),
        "{reply}"
    );
    assert!(c.closed().await);
    assert!(
        TcpStream::connect(r.addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_message_under_way_at_shutdown_is_finished_and_taken() {
    let mut r = start(limits()).await;
    let mut c = Client::hello(r.addr).await;
    assert_eq!(code(&c.send("MAIL FROM:<>").await), 250);
    assert_eq!(code(&c.send(&format!("RCPT TO:<{BOUNCE}>")).await), 250);
    assert_eq!(code(&c.send("DATA").await), 354);
    c.write(b"Subject: late\r\n\r\nfirst half\r\n").await;

    r.shutdown.cancel();
    c.write(b"second half\r\n.\r\n").await;
    assert_eq!(c.reply().await, "250 2.0.0 queued\r\n");
    let next = c.reply().await;
    assert!(next.starts_with("421 4.3.2"), "{next}");
    let task = r.task.take().unwrap();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("serve returns")
        .unwrap();
    assert_eq!(
        r.sink.got()[0].raw,
        b"Subject: late\r\n\r\nfirst half\r\nsecond half\r\n"
    );
}
