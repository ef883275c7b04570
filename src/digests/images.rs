//! The pixel size of lead images, so that a digest can give each `<img>` a `width` and a
//! `height` (Outlook sizes pictures by those attributes alone, and every client can lay the
//! mail out before the pictures arrive). Articles carry only an image's URL: the size is read
//! from the first bytes of the picture (PNG, GIF, JPEG, WebP headers), once per process,
//! before a batch of mails is rendered. A picture that cannot be read in time is shown at the
//! column's width with its proportions left to the client, and asked about again later.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use futures_util::{StreamExt, future::join_all};

/// Bytes read from a picture at most: its size is in the first few hundred bytes (JPEG may put
/// metadata before it).
const MAX_BYTES: usize = 64 * 1024;
/// How long a picture may take to say its size.
const TIMEOUT: Duration = Duration::from_secs(3);
/// After a failure, how long a picture is left alone.
const RETRY_AFTER: Duration = Duration::from_secs(600);
/// Pictures remembered; the memory is cleared when full.
const MAX_ENTRIES: usize = 4096;
/// Pictures asked about at once.
const PARALLEL: usize = 8;

enum Known {
    Size(u32, u32),
    Unknown(Instant),
}

/// Picture sizes learnt so far; one per process, shared by the delivery loops, previews and
/// web copies.
pub struct ImageSizes {
    known: Mutex<HashMap<String, Known>>,
    client: Option<reqwest::Client>,
}

impl ImageSizes {
    /// Sizes read over HTTP with an honest User-Agent.
    pub fn new(user_agent: &str) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| tracing::warn!("no HTTP client for image sizes: {e}"))
            .ok();
        Self {
            known: Mutex::new(HashMap::new()),
            client,
        }
    }

    /// Sizes that are never looked up (tests of the templates).
    pub fn offline() -> Self {
        Self {
            known: Mutex::new(HashMap::new()),
            client: None,
        }
    }

    /// The size of the picture at `url`, when known.
    pub fn get(&self, url: &str) -> Option<(u32, u32)> {
        match self.known.lock().expect("image sizes lock").get(url) {
            Some(Known::Size(w, h)) => Some((*w, *h)),
            _ => None,
        }
    }

    /// Reads the size of each of `urls` not known yet (nor failed lately), a few at a time,
    /// each within [`TIMEOUT`].
    pub async fn learn<'a>(&self, urls: impl IntoIterator<Item = &'a str>) {
        let Some(client) = &self.client else { return };
        let mut wanted: Vec<&str> = {
            let known = self.known.lock().expect("image sizes lock");
            urls.into_iter()
                .filter(|u| match known.get(*u) {
                    None => true,
                    Some(Known::Size(..)) => false,
                    Some(Known::Unknown(at)) => at.elapsed() >= RETRY_AFTER,
                })
                .collect()
        };
        wanted.sort_unstable();
        wanted.dedup();
        for chunk in wanted.chunks(PARALLEL) {
            let found = join_all(chunk.iter().map(|u| probe(client, u))).await;
            let mut known = self.known.lock().expect("image sizes lock");
            if known.len() + chunk.len() > MAX_ENTRIES {
                known.clear();
            }
            for (url, size) in chunk.iter().zip(found) {
                let entry = match size {
                    Some((w, h)) => Known::Size(w, h),
                    None => Known::Unknown(Instant::now()),
                };
                known.insert((*url).to_owned(), entry);
            }
        }
    }
}

/// The size of the picture at `url`, from as few of its bytes as it takes.
async fn probe(client: &reqwest::Client, url: &str) -> Option<(u32, u32)> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let read = async {
        let resp = client
            .get(parsed)
            .header(reqwest::header::RANGE, format!("bytes=0-{}", MAX_BYTES - 1))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let mut head = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            head.extend_from_slice(&chunk.ok()?);
            if let Some(size) = size_of(&head) {
                return Some(size);
            }
            if head.len() >= MAX_BYTES {
                return None;
            }
        }
        size_of(&head)
    };
    let size = tokio::time::timeout(TIMEOUT, read).await.ok().flatten();
    if size.is_none() {
        tracing::debug!(url, "image size unknown");
    }
    size
}

/// Width and height from the start of a PNG, GIF, JPEG or WebP file.
pub fn size_of(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le24 = |i: usize| {
        Some(u32::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            0,
        ]))
    };
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let size = if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        (be32(16)?, be32(20)?)
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        (le16(6)?, le16(8)?)
    } else if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        match b.get(12..16)? {
            b"VP8 " => (le16(26)? & 0x3fff, le16(28)? & 0x3fff),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
            }
            b"VP8X" => (le24(24)? + 1, le24(27)? + 1),
            _ => return None,
        }
    } else if b.starts_with(b"\xff\xd8") {
        jpeg(b, be16)?
    } else {
        return None;
    };
    (size.0 > 0 && size.1 > 0).then_some(size)
}

/// Walks a JPEG's segments to its frame header (SOFn), which holds height then width.
fn jpeg(b: &[u8], be16: impl Fn(usize) -> Option<u32>) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        while *b.get(i)? != 0xff {
            i += 1;
        }
        while *b.get(i)? == 0xff {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        // Markers without a length: RSTn, TEM.
        if (0xd0..=0xd7).contains(&marker) || marker == 0x01 {
            continue;
        }
        let len = usize::try_from(be16(i)?).ok()?;
        let frame = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if frame {
            return Some((be16(i + 5)?, be16(i + 3)?));
        }
        i += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_from_each_format_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1200u32.to_be_bytes());
        png.extend_from_slice(&800u32.to_be_bytes());
        assert_eq!(size_of(&png), Some((1200, 800)));
        assert_eq!(size_of(b"GIF89a\x58\x02\x90\x01rest"), Some((600, 400)));
        // SOI, an APP0 segment of 16 bytes, then SOF0: precision, height 480, width 640.
        let mut jpg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        jpg.extend_from_slice(&[0; 14]);
        jpg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80]);
        assert_eq!(size_of(&jpg), Some((640, 480)));
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend_from_slice(&[0x1f, 0x03, 0x00, 0x57, 0x02, 0x00]); // 800 x 600, minus one
        assert_eq!(size_of(&webp), Some((800, 600)));
        assert_eq!(size_of(b"<html>not a picture</html>"), None);
        assert_eq!(size_of(&png[..18]), None, "a cut header is not a size");
    }
}
