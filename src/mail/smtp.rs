//! SMTP over lettre's protocol client, with a pool of our own.
//!
//! lettre's pooled transport bounds only the TCP connect; and if a send future is dropped by
//! an outer timeout, lettre puts the half-used connection back in its pool, where the next
//! message reads the previous message's late reply. So this pool owns the connections: every
//! step (connect with greeting, EHLO, STARTTLS and AUTH; MAIL; RCPT; DATA; the message and the
//! reply to its final ".") runs under its own timeout (RFC 5321 §4.5.3.2 by default), and a
//! connection goes back to the pool only after a complete exchange (or a clean `RSET` after a
//! refusal).
//!
//! Failures are told apart the way a delivery ledger needs: the relay being unreachable says
//! nothing about the message ([`SendError::RelayDown`]); silence after the final "." means
//! the message may have arrived ([`SendError::Uncertain`]); only replies about the message
//! are transient or permanent failures.
//!
//! When the server offers PIPELINING (RFC 2920), a message to one recipient goes out in two
//! round trips instead of four: MAIL, RCPT and DATA in one write, then the message.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use lettre::{
    Address,
    address::Envelope,
    transport::smtp::{
        self,
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, TlsParameters},
        commands::{Data, Ehlo, Mail, Rcpt, Rset},
        extension::{ClientId, Extension, MailBodyParameter, MailParameter},
    },
};
use tokio::{sync::Semaphore, time::timeout};

use super::{
    Gate, SendError,
    smtp_data::DataPayload,
    smtp_failure::{Failure, Stage, classify, deferral_code},
};
use crate::config::SmtpTimeouts;

/// A parked connection older than this is closed rather than reused: servers commonly drop
/// idle clients after a minute.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// How the connection is protected, from `smtps://` or `?tls=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    None,
    /// TLS from the first byte (`smtps://`).
    Wrapper,
    /// STARTTLS, refusing to go on without it (`?tls=required`).
    Required,
    /// STARTTLS when offered (`?tls=opportunistic`).
    Opportunistic,
}

/// One SMTP session and what we know of it.
struct Conn {
    smtp: AsyncSmtpConnection,
    /// The server announced PIPELINING.
    pipelining: bool,
    /// Out of step with the server (it waits for message data we will not send): never reuse.
    poisoned: bool,
}

/// A pool of up to `concurrency` SMTP connections to one server.
pub struct SmtpPool {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeouts: SmtpTimeouts,
    permits: Semaphore,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

impl SmtpPool {
    /// Reads a `smtp://[user:pass@]host[:port][/ehlo-name][?tls=required|opportunistic]` or
    /// `smtps://…` URL.
    pub fn new(url: &str, concurrency: u32, timeouts: SmtpTimeouts) -> anyhow::Result<Self> {
        let u = url::Url::parse(url).context("mail.smtp_url")?;
        let tls = u
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let (security, default_port) = match (u.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::None, 25),
            ("smtp", Some("required")) => (Security::Required, 587),
            ("smtp", Some("opportunistic")) => (Security::Opportunistic, 587),
            ("smtps", None) => (Security::Wrapper, 465),
            (scheme, tls) => bail!("mail.smtp_url: unsupported scheme {scheme:?} with tls={tls:?}"),
        };
        let host = u.host_str().context("mail.smtp_url: no host")?.to_owned();
        let decode = |s: &str| {
            percent_decode(s)
                .context("mail.smtp_url: credentials are not valid percent-encoded UTF-8")
        };
        let credentials = match u.password() {
            Some(pass) => Some(Credentials::new(decode(u.username())?, decode(pass)?)),
            None => None,
        };
        let name = u.path().trim_matches('/');
        let hello = if name.is_empty() {
            ClientId::default()
        } else {
            ClientId::Domain(name.to_owned())
        };
        Ok(Self {
            port: u.port().unwrap_or(default_port),
            host,
            security,
            hello,
            credentials,
            timeouts,
            permits: Semaphore::new(concurrency as usize),
            idle: Mutex::new(Vec::with_capacity(concurrency as usize)),
        })
    }

    /// Sends `body` to the envelope's recipients over a pooled connection; `gate` is asked
    /// right before the message is written. A failure comes with the code of a 4xx reply about
    /// the recipient or the message ([`deferral_code`]), if that is what it was.
    pub async fn send(
        &self,
        envelope: &Envelope,
        body: &[u8],
        gate: &dyn Gate,
    ) -> Result<(), (SendError, Option<u16>)> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| (SendError::Transient("mailer closed".into()), None))?;
        let (mut conn, mut reused) = match self.take_idle() {
            Some(c) => (c, true),
            None => (self.connect().await.map_err(|e| (e, None))?, false),
        };
        let mut result = self.transact(&mut conn, envelope, body, gate).await;
        // A parked connection the server has since closed fails at MAIL; nothing of the
        // message went out, so one retry on a new connection is safe.
        if reused && matches!(result, Err((Stage::Mail, Failure::Broken(_)))) {
            conn = self.connect().await.map_err(|e| (e, None))?;
            reused = false;
            result = self.transact(&mut conn, envelope, body, gate).await;
        }
        match result {
            Ok(()) => {
                self.park(conn);
                Ok(())
            }
            Err((stage, failure)) => {
                if let Failure::Reply { code, .. } = failure
                    && code != 421
                    && !conn.poisoned
                    && matches!(
                        timeout(self.timeouts.mail, conn.smtp.command(Rset)).await,
                        Ok(Ok(_))
                    )
                {
                    self.park(conn);
                }
                let deferral = deferral_code(stage, &failure);
                Err((classify(stage, failure, reused), deferral))
            }
        }
    }

    /// Says QUIT on every parked connection.
    pub async fn close(&self) {
        let conns: Vec<_> = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        for (mut c, _) in conns {
            let _ = timeout(self.timeouts.mail, c.smtp.quit()).await;
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("pool lock");
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_LIMIT {
                return Some(conn);
            }
        }
        None
    }

    fn park(&self, conn: Conn) {
        if !conn.smtp.has_broken() && !conn.poisoned {
            self.idle
                .lock()
                .expect("pool lock")
                .push((conn, Instant::now()));
        }
    }

    /// Opens a connection: TCP (and TLS) within `connect`, then greeting, EHLO, STARTTLS and
    /// AUTH within `greeting`. Any failure here is the relay's, not a message's.
    async fn connect(&self) -> Result<Conn, SendError> {
        let steps = async {
            let params = || TlsParameters::new(self.host.clone()).map_err(|e| e.to_string());
            let wrapper = match self.security {
                Security::Wrapper => Some(params()?),
                _ => None,
            };
            let mut conn = AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeouts.connect),
                &self.hello,
                wrapper,
                None,
            )
            .await
            .map_err(|e| e.to_string())?;
            let offered = conn.can_starttls();
            match self.security {
                Security::Required | Security::Opportunistic if offered => {
                    conn.starttls(params()?, &self.hello)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Security::Required => {
                    return Err(
                        "the server does not offer STARTTLS, which tls=required demands".to_owned(),
                    );
                }
                _ => {}
            }
            // lettre keeps only the extensions it uses; asking again (before AUTH, which a
            // new EHLO could reset) tells whether the server pipelines.
            let ehlo = conn
                .command(Ehlo::new(self.hello.clone()))
                .await
                .map_err(|e| e.to_string())?;
            let pipelining = ehlo.message().any(|line| {
                line.split_whitespace()
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case("PIPELINING"))
            });
            if let Some(creds) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(Conn {
                smtp: conn,
                pipelining,
                poisoned: false,
            })
        };
        let bound = self.timeouts.connect + self.timeouts.greeting;
        match timeout(bound, steps).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(SendError::RelayDown(format!(
                "cannot open an SMTP session with {}:{}: {e}",
                self.host, self.port
            ))),
            Err(_) => Err(SendError::RelayDown(format!(
                "no SMTP session with {}:{} within {bound:?}",
                self.host, self.port
            ))),
        }
    }

    /// MAIL, RCPT for each recipient, DATA, the message: each step under its timeout. When
    /// `gate` refuses after DATA, the connection is dropped without the final ".", so the
    /// server discards what it has.
    async fn transact(
        &self,
        conn: &mut Conn,
        envelope: &Envelope,
        body: &[u8],
        gate: &dyn Gate,
    ) -> Result<(), (Stage, Failure)> {
        let mut params = Vec::new();
        if !body.is_ascii()
            && conn
                .smtp
                .server_info()
                .supports_feature(Extension::EightBitMime)
        {
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mail = Mail::new(envelope.from().cloned(), params);
        match envelope.to() {
            [to] if conn.pipelining => self.pipelined(conn, mail, to).await?,
            recipients => {
                self.step(Stage::Mail, conn.smtp.command(mail)).await?;
                for to in recipients {
                    self.step(
                        Stage::Rcpt,
                        conn.smtp.command(Rcpt::new(to.clone(), vec![])),
                    )
                    .await?;
                }
                self.step(Stage::Data, conn.smtp.command(Data)).await?;
            }
        }
        if !gate.before_data() {
            conn.poisoned = true;
            return Err((Stage::Data, Failure::Called));
        }
        match DataPayload::new(body) {
            // One write: see `smtp_data` for the stall the two writes of `message` cause.
            Some(payload) => {
                self.step(Stage::Message, conn.smtp.command(payload))
                    .await?
            }
            None => self.step(Stage::Message, conn.smtp.message(body)).await?,
        };
        Ok(())
    }

    /// MAIL, RCPT and DATA in one write (RFC 2920), then their three replies in order. A
    /// refusal of MAIL or RCPT is reported as such; should the server still answer DATA with
    /// 354, it waits for a message we will not send, so the session is not reused.
    async fn pipelined(
        &self,
        conn: &mut Conn,
        mail: Mail,
        to: &Address,
    ) -> Result<(), (Stage, Failure)> {
        let group = format!("{mail}{}{Data}", Rcpt::new(to.clone(), vec![]));
        let mail = self.step(Stage::Mail, conn.smtp.command(group)).await;
        if matches!(mail, Err((_, Failure::Broken(_)))) {
            return mail.map(drop);
        }
        let rcpt = self.step(Stage::Rcpt, conn.smtp.read_response()).await;
        if matches!(rcpt, Err((_, Failure::Broken(_)))) {
            return rcpt.map(drop);
        }
        let data = self.step(Stage::Data, conn.smtp.read_response()).await;
        if let Err(refused) = mail.and(rcpt) {
            if data.is_ok() {
                conn.poisoned = true;
            }
            return Err(refused);
        }
        data.map(drop)
    }

    async fn step<T>(
        &self,
        stage: Stage,
        fut: impl Future<Output = Result<T, smtp::Error>>,
    ) -> Result<T, (Stage, Failure)> {
        let t = &self.timeouts;
        let limit = match stage {
            Stage::Mail => t.mail,
            Stage::Rcpt => t.rcpt,
            Stage::Data => t.data,
            // lettre writes the message and reads the reply to its "." in one call; the write
            // of a healthy connection is quick, so the reply's limit bounds the whole.
            Stage::Message => t.data_block.max(t.data_end),
        };
        match timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err((
                stage,
                match e.status() {
                    Some(code) => Failure::Reply {
                        code: code.to_string().parse().unwrap_or(0),
                        text: e.to_string(),
                    },
                    None => Failure::Broken(e.to_string()),
                },
            )),
            Err(_) => Err((
                stage,
                Failure::Broken(format!("no answer within {limit:?}")),
            )),
        }
    }
}

/// Decodes `%XX` escapes of a URL's user or password part.
fn percent_decode(s: &str) -> anyhow::Result<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: Vec<u8> = bytes.by_ref().take(2).collect();
            let hex = std::str::from_utf8(&hex).ok().filter(|h| h.len() == 2);
            out.push(
                hex.and_then(|h| u8::from_str_radix(h, 16).ok())
                    .context("bad % escape")?,
            );
        } else {
            out.push(b);
        }
    }
    Ok(String::from_utf8(out)?)
}
