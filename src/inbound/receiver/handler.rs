//! The receiver's answers inside mailin's state machine: which sender and recipients a
//! transaction takes, and the message body as mailin hands it over (dot-unstuffed), kept up
//! to the size limit. The session reads the transaction back when the body ends.

use std::{
    io,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use mailin::{Handler, Response};

use super::{Limits, MAX_RECIPIENTS, command::MailFrom, rate::PerMinute};
use crate::{clock::to_ms, inbound::Sink};

/// One mail transaction as far as it has got.
#[derive(Default)]
pub(super) struct Transaction {
    /// The `MAIL FROM` the session parsed, taken by the handler when mailin accepts the command.
    pub pending: Option<MailFrom>,
    /// Accepted recipients, lower-cased.
    pub recipients: Vec<String>,
    /// The body so far (dot-unstuffed); emptied once it is over the limit.
    pub raw: Vec<u8>,
    /// The body went over `max_message_bytes`: it is read to its end and dropped.
    pub too_big: bool,
}

/// The transaction of one session, shared between mailin's handler and the session.
pub(super) type Shared = Arc<Mutex<Transaction>>;

/// Locks the transaction (only ever held for a few statements, never across an await).
pub(super) fn lock(txn: &Shared) -> std::sync::MutexGuard<'_, Transaction> {
    txn.lock().expect("transaction lock")
}

/// The [`Handler`] of one session.
pub(super) struct Receiving {
    pub txn: Shared,
    pub sink: Arc<dyn Sink>,
    pub limits: Arc<Limits>,
    pub rate: Arc<PerMinute>,
}

/// A reply mailin passes on as it is.
fn answer(code: u16, text: &str) -> Response {
    Response::custom(code, text.to_owned())
}

impl Handler for Receiving {
    fn mail(&mut self, ip: IpAddr, _domain: &str, _from: &str) -> Response {
        let mut txn = lock(&self.txn);
        let declared = txn.pending.take().and_then(|m| m.size);
        *txn = Transaction::default();
        if declared.is_some_and(|size| size > self.limits.max_message_bytes as u64) {
            return answer(552, "5.3.4 message too big");
        }
        if !self.rate.allows(ip, to_ms(self.limits.clock.now())) {
            return answer(450, "4.7.1 too many messages, try later");
        }
        answer(250, "2.1.0 sender ok")
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let mut txn = lock(&self.txn);
        if txn.recipients.iter().any(|r| r == to) {
            return answer(250, "2.1.5 recipient ok");
        }
        if txn.recipients.len() >= MAX_RECIPIENTS {
            return answer(452, "4.5.3 too many recipients");
        }
        if !self.sink.accepts(to) {
            return answer(550, "5.1.1 no such user here");
        }
        txn.recipients.push(to.to_owned());
        answer(250, "2.1.5 recipient ok")
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut txn = lock(&self.txn);
        if txn.too_big {
            return Ok(());
        }
        if txn.raw.len() + buf.len() > self.limits.max_message_bytes {
            txn.too_big = true;
            txn.raw = Vec::new();
        } else {
            txn.raw.extend_from_slice(buf);
        }
        Ok(())
    }

    // `data_end` keeps mailin's OK: mailin leaves DATA only on a success, so the session
    // decides the reply to the final "." itself (see `session::end_of_data`).
}
