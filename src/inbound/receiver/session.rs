//! One client connection: reads its lines with a timeout on each, hands commands to mailin's
//! state machine (with the receiver's handler), reads DATA to the final "." and gives the
//! message to the sink.

use std::{io, net::IpAddr, time::Duration};

use mailin::{Session, SessionBuilder};
use tokio::{
    io::{AsyncWriteExt, BufReader, BufWriter},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::OwnedSemaphorePermit,
};
use tokio_util::sync::CancellationToken;

use super::{
    Context,
    command::{Command, classify, rcpt_for_mailin},
    handler::{self, Receiving, Shared, Transaction},
    lines::{Line, read_line},
    reply::Reply,
};
use crate::{
    clock::to_ms,
    inbound::{Inbound, Via},
};

/// Longest command line taken (RFC 5321 asks for 512; extensions make some longer).
const MAX_COMMAND_LINE: usize = 8 * 1024;
/// Rejected commands a client may send before it is shown the door (as Postfix's
/// `smtpd_hard_error_limit`): binary garbage on the port ends quickly.
const MAX_ERRORS: u32 = 20;

/// The socket, buffered both ways; every read and write has the idle timeout.
struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    idle: Duration,
}

impl Conn {
    /// The next line of at most `max` bytes, or `None` when the client was silent too long.
    /// Replies still buffered are written first unless a whole pipelined command is waiting
    /// (RFC 2920: replies to a group may go out together).
    async fn read(&mut self, max: usize) -> io::Result<Option<Line>> {
        if !self.reader.buffer().contains(&b'\n') {
            self.flush().await?;
        }
        match tokio::time::timeout(self.idle, read_line(&mut self.reader, max)).await {
            Ok(line) => line.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Queues a reply (written before the next read that would wait, or now if it closes).
    async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        within(self.idle, self.writer.write_all(reply.bytes())).await?;
        if reply.closes() {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        within(self.idle, self.writer.flush()).await
    }
}

/// A write that must finish within `limit` (a client that stops reading is dropped).
async fn within(limit: Duration, write: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    tokio::time::timeout(limit, write)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Serves one connection until the client quits, goes quiet, misbehaves or shutdown comes.
pub(super) async fn run(
    stream: TcpStream,
    peer: IpAddr,
    ctx: Context,
    shutdown: CancellationToken,
    permit: OwnedSemaphorePermit,
) {
    let (read, write) = stream.into_split();
    let mut conn = Conn {
        reader: BufReader::new(read),
        writer: BufWriter::new(write),
        idle: ctx.limits.idle_timeout,
    };
    tracing::debug!(%peer, "inbound smtp session opened");
    if let Err(e) = converse(&mut conn, peer, &ctx, &shutdown).await {
        tracing::debug!(%peer, error = %e, "inbound smtp session ended on an i/o error");
    }
    // The slot is free before the socket closes: a client that sees the close may reconnect.
    drop(permit);
    drop(conn);
}

/// The SMTP conversation: greeting, commands, DATA, until the connection is to close.
async fn converse(
    conn: &mut Conn,
    peer: IpAddr,
    ctx: &Context,
    shutdown: &CancellationToken,
) -> io::Result<()> {
    let txn = Shared::default();
    let handler = Receiving {
        txn: txn.clone(),
        sink: ctx.sink.clone(),
        limits: ctx.limits.clone(),
        rate: ctx.rate.clone(),
    };
    let mut session = SessionBuilder::new(ctx.limits.hostname.clone()).build(peer, handler);
    let host = &ctx.limits.hostname;
    if let Some(greeting) = Reply::from_mailin(&session.greeting()) {
        conn.send(&greeting).await?;
    }
    let mut errors = 0;
    loop {
        let line = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                return conn.send(&Reply::line(421, &format!("4.3.2 {host} shutting down"))).await;
            }
            line = conn.read(MAX_COMMAND_LINE) => line?,
        };
        let mut reply = match line {
            None => return conn.send(&idle(host)).await,
            Some(Line::Eof) => return Ok(()),
            Some(Line::TooLong { .. }) => Reply::line(500, "5.5.2 line too long"),
            Some(Line::Full(bytes)) => command(&mut session, &txn, ctx, &bytes),
        };
        if reply.code() == 354 {
            conn.send(&reply).await?;
            match receive_data(conn, &mut session, &txn, ctx, peer).await? {
                Some(end) => reply = end,
                None => return Ok(()),
            }
        }
        if reply.code() >= 500 {
            errors += 1;
        }
        conn.send(&reply).await?;
        if reply.closes() {
            return Ok(());
        }
        if errors >= MAX_ERRORS {
            return conn
                .send(&Reply::line(421, &format!("4.7.0 {host} too many errors")))
                .await;
        }
    }
}

fn idle(host: &str) -> Reply {
    Reply::line(
        421,
        &format!("4.4.2 {host} idle too long, closing connection"),
    )
}

/// Answers one command line.
fn command(session: &mut Session<Receiving>, txn: &Shared, ctx: &Context, line: &[u8]) -> Reply {
    let line = line
        .strip_suffix(b"\n")
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .unwrap_or(line);
    let mut mailin = |line: &[u8]| {
        Reply::from_mailin(&session.process(line))
            .unwrap_or_else(|| Reply::line(500, "5.5.2 syntax error"))
    };
    match classify(line) {
        Err(reply) => reply,
        Ok(Command::Mail(mail)) => {
            let canonical = mail.for_mailin();
            handler::lock(txn).pending = Some(mail);
            mailin(&canonical)
        }
        Ok(Command::Rcpt(to)) => mailin(&rcpt_for_mailin(&to)),
        Ok(Command::Ehlo) => {
            let reply = mailin(&[line, b"\r\n"].concat());
            if reply.code() != 250 {
                return reply;
            }
            let limits = &ctx.limits;
            let extensions = [
                limits.hostname.clone(),
                format!("SIZE {}", limits.max_message_bytes),
                "8BITMIME".into(),
                "PIPELINING".into(),
            ];
            Reply::lines(250, &extensions)
        }
        Ok(Command::NotImplemented) => Reply::line(502, "5.5.1 command not implemented"),
        Ok(Command::Other) => mailin(&[line, b"\r\n"].concat()),
    }
}

/// Reads the message after `354` up to the final ".", then answers it; `None` when the
/// client went away (or fell silent: it has been told) before the end.
async fn receive_data(
    conn: &mut Conn,
    session: &mut Session<Receiving>,
    txn: &Shared,
    ctx: &Context,
    peer: IpAddr,
) -> io::Result<Option<Reply>> {
    // A line longer than the whole limit cannot be part of a message that fits.
    let longest = ctx.limits.max_message_bytes.saturating_add(3);
    // Only "." after a CRLF ends the data: a "." after a bare LF is text (a message cannot
    // smuggle a second one past a stricter reader of it).
    let mut after_crlf = true;
    loop {
        match conn.read(longest).await? {
            None => {
                conn.send(&idle(&ctx.limits.hostname)).await?;
                return Ok(None);
            }
            Some(Line::Eof) => {
                tracing::debug!(%peer, "inbound smtp client left during DATA");
                return Ok(None);
            }
            Some(Line::TooLong { crlf }) => {
                let mut t = handler::lock(txn);
                t.too_big = true;
                t.raw = Vec::new();
                after_crlf = crlf;
            }
            Some(Line::Full(line)) if after_crlf && line == b".\r\n" => {
                return Ok(Some(end_of_data(session, txn, ctx, peer).await));
            }
            Some(Line::Full(line)) => {
                after_crlf = line.ends_with(b"\r\n");
                session.process(&data_line(line));
            }
        }
    }
}

/// A line of DATA as mailin should see it: CRLF-terminated, and a lone "." that does not
/// end the data stuffed so that mailin keeps it as text.
fn data_line(mut line: Vec<u8>) -> Vec<u8> {
    if !line.ends_with(b"\r\n") && line.ends_with(b"\n") {
        line.insert(line.len() - 1, b'\r');
    }
    if line == b".\r\n" {
        line.insert(0, b'.');
    }
    line
}

/// The reply to the final ".": the message goes to the sink unless it is too big or the
/// client is over its rate.
async fn end_of_data(
    session: &mut Session<Receiving>,
    txn: &Shared,
    ctx: &Context,
    peer: IpAddr,
) -> Reply {
    let Transaction {
        recipients,
        raw,
        too_big,
        ..
    } = std::mem::take(&mut *handler::lock(txn));
    // Back to mailin's after-HELO state (its `data_end` says OK; the reply is decided here).
    session.process(b".\r\n");
    if too_big {
        tracing::info!(%peer, limit = ctx.limits.max_message_bytes, "inbound message too big, dropped");
        return Reply::line(552, "5.3.4 message too big");
    }
    let clock = &ctx.limits.clock;
    if !ctx.rate.take(peer, to_ms(clock.now())) {
        tracing::info!(%peer, "inbound message refused, client over per_ip_per_minute");
        return Reply::line(450, "4.7.1 too many messages, try later");
    }
    let (count, bytes) = (recipients.len(), raw.len());
    let message = Inbound {
        recipients,
        raw,
        via: Via::Smtp,
        peer: Some(peer),
    };
    // The client waits 10 minutes for this reply (RFC 5321 §4.5.3.2); the sink gets less.
    let delivered = tokio::time::timeout(ctx.limits.idle_timeout, ctx.sink.deliver(message)).await;
    let failure = match delivered {
        Ok(Ok(())) => {
            tracing::info!(%peer, recipients = count, bytes, "inbound message accepted");
            return Reply::line(250, "2.0.0 queued");
        }
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => "the sink did not answer in time".to_owned(),
    };
    tracing::warn!(
        %peer, recipients = count, bytes, error = %failure,
        "inbound message not taken (451), the sender will retry"
    );
    ctx.rate.give_back(peer, to_ms(clock.now()));
    Reply::line(451, "4.3.0 try again later")
}

#[cfg(test)]
mod tests {
    use super::data_line;

    #[test]
    fn data_lines_end_in_crlf_and_a_dot_after_a_bare_lf_stays_text() {
        assert_eq!(data_line(b"text\n".to_vec()), b"text\r\n");
        assert_eq!(data_line(b"text\r\n".to_vec()), b"text\r\n");
        assert_eq!(data_line(b".\n".to_vec()), b"..\r\n");
        assert_eq!(data_line(b".\r\n".to_vec()), b"..\r\n");
        assert_eq!(data_line(b"..x\r\n".to_vec()), b"..x\r\n");
    }
}
