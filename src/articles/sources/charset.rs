//! Decoding fetched HTML: a byte-order mark, then the HTTP `charset`, then the page's own
//! `<meta>` declaration, then UTF-8. Old Chinese CMSs still serve GBK, GB18030 and Big5.

use encoding_rs::{Encoding, UTF_8};

/// How far into a page to look for a `<meta>` charset.
const META_SCAN_BYTES: usize = 4096;

/// The page's text in UTF-8; undecodable bytes become U+FFFD rather than failing the page.
pub fn decode_html(body: &[u8], content_type: Option<&str>) -> String {
    let encoding = Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| content_type.and_then(charset_of_content_type))
        .or_else(|| meta_charset(body))
        .unwrap_or(UTF_8);
    let (text, _, _) = encoding.decode(body);
    text.into_owned()
}

/// The encoding named by a `charset=` parameter.
fn charset_of_content_type(content_type: &str) -> Option<&'static Encoding> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("charset")?;
    label_after(&lower.as_bytes()[at + "charset".len()..])
}

/// The encoding declared by `<meta charset=…>` or `<meta http-equiv … content="…; charset=…">`
/// near the start of the page.
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(META_SCAN_BYTES)];
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let start = from + pos;
        let end = find(&lower[start..], b">").map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(at) = find(tag, b"charset")
            && let Some(enc) = label_after(&tag[at + "charset".len()..])
        {
            return Some(enc);
        }
        from = end;
    }
    None
}

/// Reads `= "label"` (quotes optional) and looks the label up as the WHATWG standard says.
fn label_after(rest: &[u8]) -> Option<&'static Encoding> {
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let rest = rest
        .strip_prefix(b"\"")
        .or_else(|| rest.strip_prefix(b"'"))
        .unwrap_or(rest);
    let len = rest
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
        .unwrap_or(rest.len());
    let enc = Encoding::for_label(&rest[..len])?;
    // A page that says UTF-16 in ASCII text cannot be UTF-16; browsers read it as UTF-8.
    Some(enc.output_encoding())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_charset_decodes_gbk() {
        let (bytes, _, _) = encoding_rs::GBK.encode("<p>工会要闻</p>");
        assert_eq!(
            decode_html(&bytes, Some("text/html; charset=GBK")),
            "<p>工会要闻</p>"
        );
    }

    #[test]
    fn meta_charset_is_honoured_when_the_header_is_silent() {
        let page = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head><body>通知公告</body></html>";
        let (bytes, _, _) = encoding_rs::GBK.encode(page);
        assert!(decode_html(&bytes, Some("text/html")).contains("通知公告"));

        let page = "<meta charset='big5'><p>工會簡介</p>";
        let (bytes, _, _) = encoding_rs::BIG5.encode(page);
        assert!(decode_html(&bytes, None).contains("工會簡介"));

        let page = "<meta charset=\"GB18030\"><p>基层动态 𠀀</p>";
        let (bytes, _, _) = encoding_rs::GB18030.encode(page);
        assert!(decode_html(&bytes, None).contains("基层动态 𠀀"));
    }

    #[test]
    fn utf8_is_the_default_and_utf16_labels_mean_utf8() {
        assert_eq!(decode_html("职工".as_bytes(), None), "职工");
        let page = "<meta charset=utf-16><p>职工</p>";
        assert!(decode_html(page.as_bytes(), None).contains("职工"));
    }
}
