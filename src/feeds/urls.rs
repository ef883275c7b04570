//! URLs as feeds must carry them.

/// An absolute http(s) URL in normalised, strictly ASCII form (IDN hosts in punycode, every
/// character outside RFC 3986's set percent-encoded), or `None` when `raw` is not one.
pub fn absolute_url(raw: &str) -> Option<String> {
    let u = url::Url::parse(raw.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    let mut out = String::with_capacity(u.as_str().len());
    for c in u.as_str().chars() {
        if c.is_ascii_alphanumeric() || ";/?:@&=+$.-_!~*'()%,#[]".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_url_percent_encodes_what_validators_reject() {
        assert_eq!(
            absolute_url("https://例子.测试/新闻 1.html?q=a|b").unwrap(),
            "https://xn--fsqu00a.xn--0zwm56d/%E6%96%B0%E9%97%BB%201.html?q=a%7Cb"
        );
        assert_eq!(absolute_url("javascript:alert(1)"), None);
        assert_eq!(absolute_url("/relative"), None);
    }
}
