//! A scriptable SMTP server in the test process: accepts mail like a real server, and can
//! answer 4xx or 5xx to chosen recipients, drop the connection in the middle of DATA, never
//! send its greeting or greet with a refusal, be slow (or silent) after the final ".", or hang
//! up after it.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// How the server misbehaves.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Recipient → SMTP reply to RCPT TO, e.g. "451 4.3.0 try later" or "550 5.1.1 no such user".
    pub rcpt_replies: HashMap<String, String>,
    /// Recipients whose first N transactions have the connection dropped mid-DATA.
    pub drop_mid_data: HashMap<String, usize>,
    /// Recipients whose first N RCPT attempts get a 451 (then accepted).
    pub transient_times: HashMap<String, usize>,
    /// Accept TCP connections but never greet.
    pub never_greet: bool,
    /// Announce PIPELINING (RFC 2920) in the EHLO reply.
    pub pipelining: bool,
    /// Greet every connection with this reply instead of 220 (e.g. "421 4.3.2 busy"), then
    /// hang up.
    pub greeting: Option<String>,
    /// Recipient → how long the reply to the final "." waits. The message counts as received
    /// as soon as the "." arrives (whether or not the client is still there for the reply).
    pub dot_delay: HashMap<String, Duration>,
    /// The wait before the reply to the final "." for recipients not in `dot_delay`.
    pub dot_delay_all: Option<Duration>,
    /// While set, every reply to a final "." waits (the messages count as received); each goes
    /// out once it is cleared with [`FaultSmtp::set_faults`].
    pub hold_dot_replies: bool,
    /// Recipients whose first N transactions end with the server hanging up right after the
    /// final ".", without a reply: the message counts as received (the reply was lost).
    pub hang_up_after_dot: HashMap<String, usize>,
    /// How long the 354 reply to DATA waits (every transaction that starts while it is set).
    pub data_delay: Option<Duration>,
}

/// The server and what it received.
#[derive(Clone)]
pub struct FaultSmtp {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    faults: Arc<Mutex<Faults>>,
    pub connections: Arc<Mutex<usize>>,
    /// Transactions whose RCPT and DATA had arrived together with MAIL (pipelined).
    pub pipelined: Arc<Mutex<usize>>,
    /// Sessions waiting out `data_delay` right now (DATA received, 354 not yet sent).
    pub in_data_delay: Arc<Mutex<usize>>,
}

impl FaultSmtp {
    /// Starts the server on a free local port.
    pub async fn start(faults: Faults) -> Self {
        Self::start_at("127.0.0.1:0".parse().unwrap(), faults).await
    }

    /// Starts the server on `addr` (e.g. the port of a relay that was down and comes back).
    pub async fn start_at(addr: SocketAddr, faults: Faults) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let server = FaultSmtp {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            faults: Arc::new(Mutex::new(faults)),
            connections: Arc::default(),
            pipelined: Arc::default(),
            in_data_delay: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                // An accept can fail for one connection (reset before it was taken, as when
                // its process was killed or stopped) or for a moment (no file descriptor
                // left): a relay goes on listening. Stopping here left a test's processes
                // with "connection refused" for good, a hang rather than a failure.
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        eprintln!("fault SMTP: accept failed ({e}); listening on");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                *s.connections.lock().unwrap() += 1;
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.session(stream).await;
                });
            }
        });
        server
    }

    /// Changes how the server behaves from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Messages received so far.
    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Recipients of messages received so far (one entry per message and recipient).
    pub fn recipients(&self) -> Vec<String> {
        self.messages().into_iter().flat_map(|m| m.to).collect()
    }

    /// How many more times RCPT TO `rcpt` will be answered 451 (0 once its faults are used up).
    pub fn transient_left(&self, rcpt: &str) -> usize {
        let f = self.faults.lock().unwrap();
        f.transient_times.get(rcpt).copied().unwrap_or(0)
    }

    /// How many messages to `rcpt` were received so far.
    pub fn count_to(&self, rcpt: &str) -> usize {
        self.recipients().iter().filter(|r| *r == rcpt).count()
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        if self.faults.lock().unwrap().never_greet {
            // Hold the connection open and silent until the client gives up.
            let mut buf = [0u8; 64];
            let mut stream = stream;
            loop {
                use tokio::io::AsyncReadExt;
                if stream.read(&mut buf).await? == 0 {
                    return Ok(());
                }
            }
        }
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r);
        let greeting = self.faults.lock().unwrap().greeting.clone();
        if let Some(refusal) = greeting {
            w.write_all(format!("{refusal}\r\n").as_bytes()).await?;
            w.shutdown().await?;
            return Ok(());
        }
        w.write_all(b"220 fault-smtp ready\r\n").await?;
        let mut from = String::new();
        let mut to: Vec<String> = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_owned();
            let upper = cmd.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                let pipelining = self.faults.lock().unwrap().pipelining;
                let reply: &[u8] = if pipelining {
                    b"250-fault-smtp\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
                } else {
                    b"250-fault-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                };
                w.write_all(reply).await?;
            } else if upper.starts_with("HELO") {
                w.write_all(b"250 fault-smtp\r\n").await?;
            } else if upper.starts_with("MAIL FROM:") {
                let rest = String::from_utf8_lossy(lines.buffer()).to_ascii_uppercase();
                if rest.starts_with("RCPT TO:") && rest.ends_with("DATA\r\n") {
                    *self.pipelined.lock().unwrap() += 1;
                }
                from = addr_of(&cmd[10..]);
                to.clear();
                w.write_all(b"250 2.1.0 ok\r\n").await?;
            } else if upper.starts_with("RCPT TO:") {
                let rcpt = addr_of(&cmd[8..]);
                let reply = {
                    let mut f = self.faults.lock().unwrap();
                    if let Some(n) = f.transient_times.get_mut(&rcpt).filter(|n| **n > 0) {
                        *n -= 1;
                        Some("451 4.3.0 try again later".to_owned())
                    } else {
                        f.rcpt_replies.get(&rcpt).cloned()
                    }
                };
                match reply {
                    Some(r) => w.write_all(format!("{r}\r\n").as_bytes()).await?,
                    None => {
                        to.push(rcpt);
                        w.write_all(b"250 2.1.5 ok\r\n").await?;
                    }
                }
            } else if upper == "DATA" {
                if to.is_empty() {
                    w.write_all(b"554 5.5.1 no valid recipients\r\n").await?;
                    continue;
                }
                let data_delay = self.faults.lock().unwrap().data_delay;
                if let Some(delay) = data_delay {
                    *self.in_data_delay.lock().unwrap() += 1;
                    tokio::time::sleep(delay).await;
                    *self.in_data_delay.lock().unwrap() -= 1;
                }
                w.write_all(b"354 go ahead\r\n").await?;
                let drop_now = {
                    let mut f = self.faults.lock().unwrap();
                    to.iter().any(|t| match f.drop_mid_data.get_mut(t) {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            true
                        }
                        _ => false,
                    })
                };
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if drop_now && data.len() > 200 {
                        // Vanish in the middle of the message.
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(
                        line.strip_prefix('.')
                            .filter(|_| line.starts_with(".."))
                            .unwrap_or(&line),
                    );
                }
                let (hang_up, delay) = {
                    let mut f = self.faults.lock().unwrap();
                    let hang_up = to.iter().any(|t| match f.hang_up_after_dot.get_mut(t) {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            true
                        }
                        _ => false,
                    });
                    let delay = to
                        .iter()
                        .filter_map(|t| f.dot_delay.get(t).copied())
                        .max()
                        .or(f.dot_delay_all);
                    (hang_up, delay)
                };
                self.received.lock().unwrap().push(Received {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                if hang_up {
                    // The message arrived; the reply is lost with the connection.
                    return Ok(());
                }
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                while self.faults.lock().unwrap().hold_dot_replies {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                w.write_all(b"250 2.0.0 queued\r\n").await?;
            } else if upper == "RSET" {
                to.clear();
                w.write_all(b"250 2.0.0 ok\r\n").await?;
            } else if upper == "NOOP" {
                w.write_all(b"250 2.0.0 ok\r\n").await?;
            } else if upper == "QUIT" {
                w.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            } else {
                w.write_all(b"502 5.5.2 command not implemented\r\n")
                    .await?;
            }
        }
    }
}

fn addr_of(s: &str) -> String {
    let s = s.trim();
    let inner = s.trim_start_matches('<');
    inner
        .split('>')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Addresses that appear more than once among `list`.
pub fn duplicates(list: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    list.iter()
        .filter(|a| !seen.insert(a.as_str()))
        .cloned()
        .collect()
}
