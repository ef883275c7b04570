//! Request preconditions and content negotiation (RFC 9110 §13 and §12.5.3), as pure functions.

use std::time::{Duration, UNIX_EPOCH};

use super::rendered::Encoding;

/// Whether `If-None-Match` matches the document whose content hash is `tag`.
///
/// Comparison is weak (RFC 9110 §13.1.2): `W/` prefixes are ignored. The per-coding suffixes
/// we add (`-gzip`, `-br`) are ignored too: they name the same content, so a client holding
/// the gzip representation need not download the br one.
pub fn none_match(header: &str, tag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        if candidate == "*" {
            return true;
        }
        let candidate = candidate.strip_prefix("W/").unwrap_or(candidate);
        let Some(opaque) = candidate
            .strip_prefix('"')
            .and_then(|c| c.strip_suffix('"'))
        else {
            return false;
        };
        let opaque = opaque
            .strip_suffix("-gzip")
            .or_else(|| opaque.strip_suffix("-br"))
            .unwrap_or(opaque);
        opaque == tag
    })
}

/// Whether `If-Modified-Since` says the client's copy is current (Last-Modified not later).
/// An unparseable date is ignored, as RFC 9110 §13.1.3 requires.
pub fn not_modified_since(header: &str, last_modified_secs: i64) -> bool {
    let Ok(since) = httpdate::parse_http_date(header.trim()) else {
        return false;
    };
    let since = match since.duration_since(UNIX_EPOCH) {
        Ok(d) => d,
        Err(_) => Duration::ZERO,
    };
    last_modified_secs <= since.as_secs() as i64
}

/// Picks the coding for a response from `Accept-Encoding`: the acceptable compressed coding
/// with the highest weight (br on a tie, being smaller), unless identity is explicitly
/// preferred; identity when nothing compressed is acceptable.
pub fn negotiate(accept_encoding: Option<&str>) -> Encoding {
    let Some(header) = accept_encoding else {
        return Encoding::Identity;
    };
    let (mut br, mut gzip, mut identity, mut any) = (None, None, None, None);
    for element in header.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = Some(1.0_f32);
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q));
            }
        }
        // A malformed weight makes the element unusable; skip it.
        let Some(q) = q else { continue };
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "identity" => identity = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    let br = br.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    let (best, q) = if br >= gzip && br > 0.0 {
        (Encoding::Br, br)
    } else if gzip > 0.0 {
        (Encoding::Gzip, gzip)
    } else {
        return Encoding::Identity;
    };
    match identity {
        Some(iq) if iq > q => Encoding::Identity,
        _ => best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_strong_weak_lists_star_and_coding_variants() {
        let tag = "abc123";
        for yes in [
            "\"abc123\"",
            "W/\"abc123\"",
            "\"x\", W/\"abc123\"",
            "*",
            "\"abc123-gzip\"",
            " \"abc123-br\" ",
        ] {
            assert!(none_match(yes, tag), "{yes}");
        }
        for no in ["\"abc12\"", "abc123", "\"abc123\"x", "W/abc123", "", "\"\""] {
            assert!(!none_match(no, tag), "{no}");
        }
    }

    #[test]
    fn if_modified_since_compares_whole_seconds_and_ignores_garbage() {
        let lm = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 GMT
        assert!(not_modified_since("Tue, 14 Nov 2023 22:13:20 GMT", lm));
        assert!(not_modified_since("Tue, 14 Nov 2023 22:13:21 GMT", lm));
        assert!(!not_modified_since("Tue, 14 Nov 2023 22:13:19 GMT", lm));
        assert!(!not_modified_since("yesterday", lm));
    }

    #[test]
    fn negotiation_follows_weights() {
        use Encoding::*;
        for (header, want) in [
            (None, Identity),
            (Some(""), Identity),
            (Some("gzip, deflate, br"), Br),
            (Some("gzip"), Gzip),
            (Some("br;q=0.5, gzip"), Gzip),
            (Some("br;q=0, gzip;q=0"), Identity),
            (Some("*"), Br),
            (Some("*;q=0.3, gzip;q=0"), Br),
            (Some("identity, gzip;q=0.5"), Identity),
            (Some("deflate"), Identity),
            (Some("br;q=abc, gzip"), Gzip),
            (Some("GZIP;Q=1"), Gzip),
        ] {
            assert_eq!(negotiate(header), want, "{header:?}");
        }
    }
}
