//! A cached document: its bytes in every encoding, prepared once when it changes, and the
//! validators (ETag, Last-Modified) derived from its content so that every replica agrees.
//!
//! A new document is served as soon as it is rendered; its gzip and br forms follow a few
//! milliseconds later (requests in between get identity), so compression never delays a change.

use std::{io::Write, sync::OnceLock};

use axum::http::HeaderValue;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Brotli quality: 5 compresses a 60 KB feed nearly as well as 11, in a few milliseconds.
const BROTLI_QUALITY: u32 = 5;
const BROTLI_WINDOW: u32 = 22;

/// A content coding we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Br,
}

impl Encoding {
    /// The `Content-Encoding` value; `None` for identity.
    pub fn header(self) -> Option<HeaderValue> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some(HeaderValue::from_static("gzip")),
            Encoding::Br => Some(HeaderValue::from_static("br")),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One document, ready to answer any request for it without further work.
#[derive(Debug)]
pub struct Rendered {
    pub content_type: HeaderValue,
    identity: Bytes,
    /// gzip and br bodies, once [`compress`](Self::compress) has run.
    compressed: OnceLock<[Bytes; 2]>,
    /// Entity tags by encoding: the same content hash, marked per coding as RFC 9110 asks.
    etags: [HeaderValue; 3],
    /// The content hash (the opaque part of the identity ETag, without quotes).
    pub tag: String,
    pub last_modified: HeaderValue,
    /// Last-Modified in whole seconds, for `If-Modified-Since`.
    pub last_modified_secs: i64,
    /// `Link` header (WebSub hub and self), when a hub is configured.
    pub link: Option<HeaderValue>,
}

impl Rendered {
    /// Derives the validators of `body`; compressed forms come with [`compress`](Self::compress).
    pub fn new(
        body: Vec<u8>,
        content_type: &'static str,
        last_modified: DateTime<Utc>,
        link: Option<String>,
    ) -> Self {
        let digest = Sha256::digest(&body);
        let tag = URL_SAFE_NO_PAD.encode(&digest[..18]);
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\"")).expect("base64 is a valid header")
        };
        let secs = last_modified.timestamp();
        let lm = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
        Self {
            content_type: HeaderValue::from_static(content_type),
            etags: [etag(""), etag("-gzip"), etag("-br")],
            identity: Bytes::from(body),
            compressed: OnceLock::new(),
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(lm.into()))
                .expect("an HTTP date is a valid header"),
            last_modified_secs: secs,
            link: link.and_then(|l| HeaderValue::from_str(&l).ok()),
            tag,
        }
    }

    /// Prepares the gzip and br bodies (CPU work: call it off the async threads).
    pub fn compress(&self) {
        if self.compressed.get().is_none() {
            let forms = [
                Bytes::from(gzip(&self.identity)),
                Bytes::from(brotli(&self.identity)),
            ];
            let _ = self.compressed.set(forms);
        }
    }

    /// `wanted`, or identity while the compressed forms are not ready yet.
    pub fn available(&self, wanted: Encoding) -> Encoding {
        match (wanted, self.compressed.get()) {
            (Encoding::Identity, _) | (_, None) => Encoding::Identity,
            (coding, Some(_)) => coding,
        }
    }

    /// The body in `encoding`; identity when that form is not ready (see [`available`](Self::available)).
    pub fn body(&self, encoding: Encoding) -> &Bytes {
        match (encoding, self.compressed.get()) {
            (Encoding::Gzip, Some([gz, _])) => gz,
            (Encoding::Br, Some([_, br])) => br,
            _ => &self.identity,
        }
    }

    /// The ETag of the representation in `encoding`.
    pub fn etag(&self, encoding: Encoding) -> &HeaderValue {
        &self.etags[encoding.index()]
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    enc.write_all(body)
        .expect("writing into memory cannot fail");
    enc.finish().expect("writing into memory cannot fail")
}

fn brotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4);
    {
        let mut w =
            brotli::CompressorWriter::new(&mut out, 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
        w.write_all(body).expect("writing into memory cannot fail");
    }
    out
}

/// Headers every HTML page gets (the index page here, like the subscription pages): no
/// framing by another site (its subscribe form could be clickjacked), no type sniffing, and a
/// policy that lets only its own styles and its form post to this site.
pub const HTML_SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
];

impl Rendered {
    /// Whether this document is an HTML page (then [`HTML_SECURITY_HEADERS`] apply).
    pub fn is_html(&self) -> bool {
        self.content_type.as_bytes().starts_with(b"text/html")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn every_encoding_decodes_to_the_same_bytes_and_tags_depend_on_content_only() {
        let body = "工会要闻 ✊ ".repeat(2000).into_bytes();
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000, 123_000_000).unwrap();
        let a = Rendered::new(body.clone(), "text/plain", t, None);
        let b = Rendered::new(
            body.clone(),
            "text/plain",
            t + chrono::Duration::hours(1),
            None,
        );
        assert_eq!(a.tag, b.tag);
        assert_eq!(a.last_modified_secs, 1_700_000_000);
        assert_eq!(
            a.available(Encoding::Br),
            Encoding::Identity,
            "not compressed yet"
        );
        assert_eq!(a.body(Encoding::Br), &body[..], "identity until compressed");
        a.compress();
        assert_eq!(a.available(Encoding::Br), Encoding::Br);

        let mut gz = Vec::new();
        flate2::read::GzDecoder::new(&a.body(Encoding::Gzip)[..])
            .read_to_end(&mut gz)
            .unwrap();
        let mut br = Vec::new();
        brotli::Decompressor::new(&a.body(Encoding::Br)[..], 4096)
            .read_to_end(&mut br)
            .unwrap();
        assert_eq!(gz, body);
        assert_eq!(br, body);
        assert!(a.body(Encoding::Br).len() < body.len() / 4);
        assert_eq!(a.etag(Encoding::Gzip), &format!("\"{}-gzip\"", a.tag));
    }
}
