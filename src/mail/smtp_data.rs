//! The message of an SMTP `DATA` exchange, sent in one write.
//!
//! lettre's `AsyncSmtpConnection::message` writes the message and then the closing
//! `CRLF.CRLF` in a second, tiny write. With Nagle's algorithm that tiny write waits for the
//! server to acknowledge the message, and servers delay that acknowledgement (about 40 ms on
//! Linux) while they wait for the rest of the data: a 40 ms stall per message, which caps a
//! connection at about 25 messages a second. Handing the whole payload to `command` (one
//! write, then the reply) avoids it on every kind of connection, TLS or not.

use std::fmt;

/// A message made transparent (RFC 5321 §4.5.2: a line starting with `.` gets another) and
/// ended with the `.` line, written out as it is formatted (no copy of the message is kept).
pub struct DataPayload<'a>(&'a str);

impl<'a> DataPayload<'a> {
    /// `None` when the message is not UTF-8 (then send it with `message` instead); lettre
    /// builds ours as ASCII or UTF-8.
    pub fn new(message: &'a [u8]) -> Option<Self> {
        std::str::from_utf8(message).ok().map(Self)
    }
}

impl fmt::Display for DataPayload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        // A line starts the message and follows each CRLF (a bare LF starts none).
        let mut line_start = true;
        for piece in text.split_inclusive('\n') {
            if line_start && piece.starts_with('.') {
                f.write_str(".")?;
            }
            f.write_str(piece)?;
            line_start = piece.ends_with("\r\n");
        }
        if !text.ends_with("\r\n") {
            f.write_str("\r\n")?;
        }
        f.write_str(".\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(s: &str) -> String {
        DataPayload::new(s.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn lines_starting_with_a_dot_get_another_and_the_end_line_follows() {
        assert_eq!(
            payload("Subject: x\r\n\r\n.hidden\r\na.b\r\n..two"),
            "Subject: x\r\n\r\n..hidden\r\na.b\r\n...two\r\n.\r\n"
        );
    }

    #[test]
    fn a_message_ending_its_last_line_gets_no_blank_line_before_the_end() {
        assert_eq!(payload("a\r\nb\r\n"), "a\r\nb\r\n.\r\n");
        assert_eq!(payload(".\r\n"), "..\r\n.\r\n");
    }

    #[test]
    fn a_bare_line_feed_does_not_start_a_line_and_utf8_passes_through() {
        assert_eq!(payload("正文\n.x"), "正文\n.x\r\n.\r\n");
        assert!(DataPayload::new(&[0xff, 0xfe]).is_none());
    }
}
