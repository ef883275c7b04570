//! Reading captured messages: unfolded headers, RFC 2047 words, MIME parts decoded from
//! base64 or quoted-printable, and the links in them.

use base64::Engine;

use super::Captured;

impl Captured {
    /// Header lines, unfolded, as (name, raw value).
    pub fn headers(&self) -> Vec<(String, String)> {
        parse_headers(self.raw.split("\r\n\r\n").next().unwrap_or(""))
    }

    /// The first header of `name` (case-insensitive), RFC 2047 words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| decode_words(&v))
    }

    /// The decoded text/plain part.
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    /// The decoded text/html part (empty when none).
    pub fn html(&self) -> String {
        self.part("text/html")
    }

    /// Every http(s) link in the text and HTML parts.
    pub fn links(&self) -> Vec<String> {
        let mut out = Vec::new();
        for body in [self.text(), self.html()] {
            for (i, _) in body.match_indices("http") {
                let rest = &body[i..];
                if !(rest.starts_with("http://") || rest.starts_with("https://")) {
                    continue;
                }
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
                    .unwrap_or(rest.len());
                let link = rest[..end].replace("&amp;", "&");
                if !out.contains(&link) {
                    out.push(link);
                }
            }
        }
        out
    }

    /// The first link whose path is `path`.
    pub fn link_to(&self, path: &str) -> String {
        self.links()
            .into_iter()
            .find(|l| url::Url::parse(l).is_ok_and(|u| u.path() == path))
            .unwrap_or_else(|| panic!("no link to {path} in {:#?}", self.links()))
    }

    fn part(&self, mime: &str) -> String {
        let (head, body) = self.raw.split_once("\r\n\r\n").unwrap_or((&self.raw, ""));
        find_part(head, body, mime).unwrap_or_default()
    }
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn find_part(head: &str, body: &str, mime: &str) -> Option<String> {
    let headers = parse_headers(head);
    let get = |n: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let ctype = get("Content-Type").unwrap_or_default();
    if ctype.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = ctype
            .split("boundary=")
            .nth(1)?
            .trim_matches('"')
            .split(';')
            .next()?
            .trim_matches('"');
        let delim = format!("--{boundary}");
        for chunk in body.split(&delim).skip(1) {
            let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
            if chunk.starts_with("--") {
                break;
            }
            let (h, b) = chunk.split_once("\r\n\r\n").unwrap_or((chunk, ""));
            if let Some(found) = find_part(h, b.strip_suffix("\r\n").unwrap_or(b), mime) {
                return Some(found);
            }
        }
        return None;
    }
    if !ctype.to_ascii_lowercase().starts_with(mime) {
        return None;
    }
    let bytes = match get("Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(body.split_whitespace().collect::<String>())
            .unwrap(),
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    Some(String::from_utf8(bytes).unwrap())
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() + 1 {
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if let Ok(v) = u8::from_str_radix(
                std::str::from_utf8(&b[i + 1..(i + 3).min(b.len())]).unwrap_or(""),
                16,
            ) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=` / `=?utf-8?q?…?=`) in a header value.
pub fn decode_words(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let Some(word) = rest[start + 2..]
            .splitn(4, '?')
            .collect::<Vec<_>>()
            .get(..3)
            .map(|p| p.to_vec())
        else {
            break;
        };
        let (charset, enc, text) = (word[0], word[1], word[2]);
        let consumed = 2 + charset.len() + 1 + enc.len() + 1 + text.len() + 2;
        let bytes = if enc.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
        } else {
            quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = &rest[(start + consumed).min(rest.len())..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}
