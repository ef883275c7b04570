//! What the receiver writes back: its own replies and mailin's, as bytes on the wire.

use mailin::{Action, Response};

/// One SMTP reply (possibly multi-line), ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    code: u16,
    bytes: Vec<u8>,
    close: bool,
}

impl Reply {
    /// A one-line reply `code text`; 221 and 421 close the connection (as in mailin).
    pub fn line(code: u16, text: &str) -> Self {
        Self {
            code,
            bytes: format!("{code} {text}\r\n").into_bytes(),
            close: matches!(code, 221 | 421),
        }
    }

    /// A multi-line reply: every line but the last is written `code-…`.
    pub fn lines(code: u16, lines: &[String]) -> Self {
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            text.push_str(&format!("{code}{sep}{line}\r\n"));
        }
        Self {
            code,
            bytes: text.into_bytes(),
            close: false,
        }
    }

    /// mailin's answer, or `None` when it has nothing to say (a line of DATA).
    pub fn from_mailin(response: &Response) -> Option<Self> {
        if response.action == Action::NoReply {
            return None;
        }
        let bytes = response
            .buffer()
            .unwrap_or_else(|_| b"451 4.3.0 local error\r\n".to_vec());
        Some(Self {
            code: response.code,
            bytes,
            close: response.action == Action::Close,
        })
    }

    /// The three-digit code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// Whether the connection closes after this reply.
    pub fn closes(&self) -> bool {
        self.close
    }

    /// The bytes to write.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_mark_every_line_but_the_last() {
        let r = Reply::lines(250, &["mx".into(), "SIZE 10".into(), "8BITMIME".into()]);
        assert_eq!(r.bytes(), b"250-mx\r\n250-SIZE 10\r\n250 8BITMIME\r\n");
        assert!(!r.closes());
    }

    #[test]
    fn mailin_replies_keep_their_code_and_close_action() {
        let r = Reply::from_mailin(&mailin::response::GOODBYE).unwrap();
        assert_eq!((r.code(), r.closes()), (221, true));
        assert_eq!(r.bytes(), b"221 Goodbye\r\n");
        let custom = Response::custom(550, "5.1.1 no such user here".into());
        let custom = Reply::from_mailin(&custom).unwrap();
        assert_eq!(custom.bytes(), b"550 5.1.1 no such user here\r\n");
    }
}
