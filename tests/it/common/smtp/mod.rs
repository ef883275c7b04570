//! A real SMTP server in the test process (mailin-embedded) that keeps every message it
//! accepts; `parse` reads those messages the way a mail client would.

mod parse;

use std::{
    net::{SocketAddr, TcpListener},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use mailin_embedded::{Handler, Response, Server, SslConfig};
use tidings::config::{Config, MailTransport};

use super::{Backend, TestApp};

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub from: String,
    pub to: Vec<String>,
    pub raw: String,
}

/// How the server answers RCPT for an address: `None` accepts.
pub type RcptRule = Arc<dyn Fn(&str) -> Option<(u16, String)> + Send + Sync>;

#[derive(Clone)]
struct Capture {
    inbox: Arc<Mutex<Vec<Captured>>>,
    arrived: tokio::sync::watch::Sender<usize>,
    sessions: Arc<AtomicUsize>,
    rcpt_rule: RcptRule,
    /// This session said EHLO/HELO already (each session has its own clone of the handler;
    /// a client may say EHLO again, as ours does to read the extensions).
    greeted: bool,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Capture {
    fn helo(&mut self, _ip: std::net::IpAddr, _domain: &str) -> Response {
        if !std::mem::replace(&mut self.greeted, true) {
            self.sessions.fetch_add(1, Ordering::SeqCst);
        }
        mailin_embedded::response::OK
    }

    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        self.from = from.to_owned();
        self.to.clear();
        mailin_embedded::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if let Some((code, text)) = (self.rcpt_rule)(to) {
            return Response::custom(code, text);
        }
        self.to.push(to.to_owned());
        mailin_embedded::response::OK
    }

    fn data_start(&mut self, _d: &str, _f: &str, _is8bit: bool, _to: &[String]) -> Response {
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = Captured {
            from: self.from.clone(),
            to: self.to.clone(),
            raw: String::from_utf8_lossy(&self.data).into_owned(),
        };
        let mut inbox = self.inbox.lock().unwrap();
        inbox.push(mail);
        self.arrived.send_replace(inbox.len());
        mailin_embedded::response::OK
    }
}

/// A running capture server.
pub struct SmtpServer {
    pub addr: SocketAddr,
    inbox: Arc<Mutex<Vec<Captured>>>,
    arrived: tokio::sync::watch::Receiver<usize>,
    sessions: Arc<AtomicUsize>,
}

impl SmtpServer {
    /// Starts a server accepting everything on a free port.
    pub fn start() -> Self {
        Self::start_with(Arc::new(|_| None))
    }

    /// Starts a server answering RCPT by `rule`.
    pub fn start_with(rule: RcptRule) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::watch::channel(0);
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let sessions = Arc::new(AtomicUsize::new(0));
        let handler = Capture {
            inbox: inbox.clone(),
            arrived: tx,
            sessions: sessions.clone(),
            rcpt_rule: rule,
            greeted: false,
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("smtp.test")
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_num_threads(16)
            .with_tcp_listener(listener);
        // The server blocks its thread for ever; the thread ends with the test process.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self {
            addr,
            inbox,
            arrived: rx,
            sessions,
        }
    }

    /// `smtp://` URL of this server.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<Captured> {
        self.inbox.lock().unwrap().clone()
    }

    /// SMTP sessions opened so far (EHLOs seen).
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    /// Waits (at most 10 s) until `n` messages have arrived, and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        let mut rx = self.arrived.clone();
        let waited = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|c| *c >= n)).await;
        let all = self.messages();
        assert!(
            waited.is_ok(),
            "expected {n} messages, got {}: {all:#?}",
            all.len()
        );
        all
    }

    /// Messages sent to `address`.
    pub fn to(&self, address: &str) -> Vec<Captured> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }
}

/// Starts an app whose mail goes through its real `smtp` transport to `server`.
pub async fn spawn_app_with_smtp(
    backend: Backend,
    server: &SmtpServer,
    tweak: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    let url = server.url();
    super::spawn_app_with(backend, move |c| {
        c.mail.transport = MailTransport::Smtp;
        c.mail.smtp_url = Some(url);
        c.mail.timeout = Some("5s".into());
        c.mail.rate_per_second = 1000;
        // Every request of a test comes from 127.0.0.1; tests of the limit set their own.
        c.subscriptions.ip_burst = 1000;
        tweak(c);
    })
    .await
}

/// The path and query of a mail link, on the test app's own address.
pub fn local(app: &TestApp, link: &str) -> String {
    let u = url::Url::parse(link).unwrap();
    match u.query() {
        Some(q) => app.url(&format!("{}?{q}", u.path())),
        None => app.url(u.path()),
    }
}

/// The `token` parameter of a link.
pub fn token_of(link: &str) -> String {
    url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("link has a token")
}

/// Like `on_both_backends!`, with a capture SMTP server `$smtp` the app sends through, and an
/// optional `where |config| { … }` tweak.
#[macro_export]
macro_rules! with_smtp_on_both_backends {
    ($(async fn $name:ident($app:ident, $smtp:ident) $(where |$c:ident| $tweak:block)? $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $smtp = common::smtp::SmtpServer::start();
                    #[allow(unused_variables)]
                    let $app = common::smtp::spawn_app_with_smtp(common::Backend::Sqlite, &$smtp, |_config| {
                        $(let $c = _config; $tweak)?
                    }).await.unwrap();
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $smtp = common::smtp::SmtpServer::start();
                    let Some($app) = common::smtp::spawn_app_with_smtp(common::Backend::Postgres, &$smtp, |_config| {
                        $(let $c = _config; $tweak)?
                    }).await else {
                        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
                        return;
                    };
                    $body
                }
            }
        )*
    };
}
