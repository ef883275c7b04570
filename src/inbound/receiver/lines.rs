//! Reading the client's lines with a bound on each: a line longer than the bound is consumed
//! and dropped, never held, so a client cannot make the receiver buffer without end.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line read from the client.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A whole line, its `\n` (and `\r` if sent) included.
    Full(Vec<u8>),
    /// A line over the bound, dropped; `crlf` says whether it ended in `\r\n`.
    TooLong { crlf: bool },
    /// The client closed the connection (a line cut short by the close is dropped).
    Eof,
}

/// Reads the next line of at most `max` bytes (line end included).
pub(super) async fn read_line<R>(reader: &mut R, max: usize) -> std::io::Result<Line>
where
    R: AsyncBufRead + Unpin,
{
    let mut line = Vec::new();
    let mut dropping = false;
    // The last byte consumed of this line so far.
    let mut prev = 0u8;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if !dropping && line.len() + n > max {
            dropping = true;
            line = Vec::new();
        }
        let before_newline = if n >= 2 { chunk[n - 2] } else { prev };
        if !dropping {
            line.extend_from_slice(chunk);
        }
        prev = chunk[n - 1];
        reader.consume(n);
        if done {
            return Ok(if dropping {
                Line::TooLong {
                    crlf: before_newline == b'\r',
                }
            } else {
                Line::Full(line)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], capacity: usize, max: usize) -> Vec<Line> {
        let mut r = tokio::io::BufReader::with_capacity(capacity, input);
        let mut out = Vec::new();
        loop {
            let l = read_line(&mut r, max).await.unwrap();
            let end = l == Line::Eof;
            out.push(l);
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn lines_within_the_bound_come_whole_and_longer_ones_are_dropped() {
        for capacity in [1, 2, 3, 7, 64] {
            let got = lines(
                b"HELO a\r\nXXXXXXXXXX\r\nYYYYYYYYYYYY\nok\n.\r\ncut",
                capacity,
                9,
            )
            .await;
            assert_eq!(
                got,
                [
                    Line::Full(b"HELO a\r\n".to_vec()),
                    Line::TooLong { crlf: true },
                    Line::TooLong { crlf: false },
                    Line::Full(b"ok\n".to_vec()),
                    Line::Full(b".\r\n".to_vec()),
                    Line::Eof,
                ],
                "buffer of {capacity}"
            );
        }
    }
}
