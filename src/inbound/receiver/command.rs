//! Reading the client's command lines before mailin sees them: which command a line is, and the
//! `MAIL FROM` / `RCPT TO` arguments that mailin 0.6 cannot parse itself (it refuses the null
//! reverse-path `<>` that every DSN carries, and any ESMTP parameter such as `SIZE=`).

use super::reply::Reply;

/// Longest path RFC 5321 §4.5.3.1.3 allows, angle brackets included.
const MAX_PATH: usize = 256;

/// A command line, by what the receiver does with it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Command {
    /// `MAIL FROM:<…>`, parsed.
    Mail(MailFrom),
    /// `RCPT TO:<…>`: the recipient, lower-cased, without brackets.
    Rcpt(String),
    /// `EHLO`: mailin keeps the state; the receiver writes its own list of extensions.
    Ehlo,
    /// Something the receiver deliberately does not do (STARTTLS, AUTH, BDAT, EXPN…).
    NotImplemented,
    /// Everything else (HELO, DATA, RSET, NOOP, QUIT, VRFY, garbage): mailin answers.
    Other,
}

/// The arguments of `MAIL FROM`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct MailFrom {
    /// The reverse-path; `None` for the null sender `<>` (DSNs, RFC 3464).
    pub sender: Option<String>,
    /// The size the client declared with `SIZE=` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=8BITMIME` was given.
    pub eight_bit: bool,
}

impl MailFrom {
    /// The same command in the only form mailin parses. It never sees the null sender: the
    /// stand-in is a placeholder for its state machine, the real sender stays in `self`.
    pub fn for_mailin(&self) -> Vec<u8> {
        let path = self.sender.as_deref().unwrap_or("MAILER-DAEMON");
        let body = if self.eight_bit { " BODY=8BITMIME" } else { "" };
        format!("MAIL FROM:<{path}>{body}\r\n").into_bytes()
    }
}

/// `RCPT TO` in the only form mailin parses.
pub(super) fn rcpt_for_mailin(recipient: &str) -> Vec<u8> {
    format!("RCPT TO:<{recipient}>\r\n").into_bytes()
}

/// Sorts one command line (without its line end); `Err` is the reply to a malformed
/// `MAIL`/`RCPT`.
pub(super) fn classify(line: &[u8]) -> Result<Command, Reply> {
    let verb_end = line
        .iter()
        .position(|b| *b == b' ' || *b == b':')
        .unwrap_or(line.len());
    let verb = line[..verb_end].to_ascii_uppercase();
    match verb.as_slice() {
        b"MAIL" => mail_from(line).map(Command::Mail),
        b"RCPT" => rcpt_to(line).map(Command::Rcpt),
        b"EHLO" => Ok(Command::Ehlo),
        b"STARTTLS" | b"AUTH" | b"BDAT" | b"EXPN" | b"HELP" | b"ETRN" | b"TURN" | b"ATRN" => {
            Ok(Command::NotImplemented)
        }
        _ => Ok(Command::Other),
    }
}

/// Parses `MAIL FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME]`.
fn mail_from(line: &[u8]) -> Result<MailFrom, Reply> {
    let bad = || Reply::line(501, "5.1.7 bad sender address syntax");
    let (path, params) = split_path(line, b"MAIL FROM:").ok_or_else(bad)?;
    let sender = if path.is_empty() {
        None
    } else {
        Some(mailbox(path).ok_or_else(bad)?)
    };
    let mut mail = MailFrom {
        sender,
        size: None,
        eight_bit: false,
    };
    for param in params.split_ascii_whitespace() {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => {
                let size = value
                    .parse()
                    .map_err(|_| Reply::line(501, "5.5.4 SIZE must be a number of bytes"))?;
                mail.size = Some(size);
            }
            "BODY" if value.eq_ignore_ascii_case("8BITMIME") => mail.eight_bit = true,
            "BODY" if value.eq_ignore_ascii_case("7BIT") => mail.eight_bit = false,
            _ => return Err(Reply::line(555, "5.5.4 unsupported MAIL FROM parameter")),
        }
    }
    Ok(mail)
}

/// Parses `RCPT TO:<address>`: no parameters (the receiver offers no extension that has any).
fn rcpt_to(line: &[u8]) -> Result<String, Reply> {
    let bad = || Reply::line(501, "5.1.3 bad recipient address syntax");
    let (path, params) = split_path(line, b"RCPT TO:").ok_or_else(bad)?;
    if !params.trim().is_empty() {
        return Err(Reply::line(555, "5.5.4 unsupported RCPT TO parameter"));
    }
    mailbox(path).ok_or_else(bad)
}

/// Splits `<prefix> <path> params` into the path (without brackets) and the parameters.
/// Case-insensitive prefix; spaces after the colon are tolerated, as many servers do.
fn split_path<'a>(line: &'a [u8], prefix: &[u8]) -> Option<(&'a str, &'a str)> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = std::str::from_utf8(&line[prefix.len()..]).ok()?;
    let rest = rest.trim_start_matches(' ').strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    if path.len() + 2 > MAX_PATH || !(params.is_empty() || params.starts_with(' ')) {
        return None;
    }
    Some((path, params))
}

/// A mailbox `local@domain` from a path, lower-cased; a source route (`@a,@b:`) is dropped
/// (RFC 5321 §4.1.1.3 says to ignore it). `None` when it is not a plain address.
fn mailbox(path: &str) -> Option<String> {
    let mailbox = match path.strip_prefix('@') {
        Some(routed) => routed.split_once(':')?.1,
        None => path,
    };
    let (local, domain) = mailbox.rsplit_once('@')?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && c != '<')
    };
    if !plain(local) || !plain(domain) || domain.contains('@') {
        return None;
    }
    Some(mailbox.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(line: &str) -> MailFrom {
        match classify(line.as_bytes()) {
            Ok(Command::Mail(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn code(line: &str) -> u16 {
        classify(line.as_bytes()).expect_err(line).code()
    }

    #[test]
    fn the_null_sender_is_read_and_handed_to_mailin_as_a_stand_in() {
        let m = mail("MAIL FROM:<>");
        assert_eq!(m.sender, None);
        assert_eq!(m.for_mailin(), b"MAIL FROM:<MAILER-DAEMON>\r\n");
    }

    #[test]
    fn size_and_body_parameters_are_read_in_any_case() {
        let m = mail("mail from:<Bounce@Example.ORG> size=1234 body=8BITMIME");
        assert_eq!(m.sender.as_deref(), Some("bounce@example.org"));
        assert_eq!(m.size, Some(1234));
        assert!(m.eight_bit);
        assert_eq!(
            m.for_mailin(),
            b"MAIL FROM:<bounce@example.org> BODY=8BITMIME\r\n"
        );
    }

    #[test]
    fn a_space_after_the_colon_and_a_source_route_are_tolerated() {
        assert_eq!(
            classify(b"RCPT TO: <@relay.example,@b.example:Unsubscribe+T@Bounce.example.org>"),
            Ok(Command::Rcpt("unsubscribe+t@bounce.example.org".into()))
        );
    }

    #[test]
    fn malformed_paths_and_parameters_get_5xx() {
        assert_eq!(code("MAIL FROM:bounce@example.org"), 501);
        assert_eq!(code("MAIL FROM:<a b@example.org>"), 501);
        assert_eq!(code("MAIL FROM:<nodomain>"), 501);
        assert_eq!(code("MAIL FROM:<> SIZE=lots"), 501);
        assert_eq!(code("MAIL FROM:<> SMTPUTF8"), 555);
        assert_eq!(code("MAIL FROM:<>SIZE=1"), 501);
        assert_eq!(code("RCPT TO:<>"), 501);
        assert_eq!(code("RCPT TO:<a@b> NOTIFY=NEVER"), 555);
        assert_eq!(code("RCPT TO:<a\u{7f}@b>"), 501);
        let long = format!("RCPT TO:<{}@example.org>", "a".repeat(300));
        assert_eq!(code(&long), 501);
        assert_eq!(
            classify(b"RCPT TO:<\xff@b>").map_err(|r| r.code()),
            Err(501)
        );
    }

    #[test]
    fn other_commands_are_sorted_by_their_verb() {
        assert_eq!(classify(b"ehlo mx.example.org"), Ok(Command::Ehlo));
        assert_eq!(classify(b"STARTTLS"), Ok(Command::NotImplemented));
        assert_eq!(classify(b"AUTH PLAIN AAAA"), Ok(Command::NotImplemented));
        assert_eq!(classify(b"DATA"), Ok(Command::Other));
        assert_eq!(classify(b"\x00\x01binary"), Ok(Command::Other));
        assert_eq!(classify(b""), Ok(Command::Other));
    }
}
