//! The link to a digest's web copy: `/digests/{delivery id}?token=…`, the token an HMAC of the
//! delivery id with the installation's link secret. Nothing is stored per mail; the link works
//! from every process, for as long as the delivery exists, and cannot be made for another
//! delivery without the secret.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of MAC a token carries (128 bits: 22 characters).
const MAC_BYTES: usize = 16;

fn mac(secret: &[u8], delivery_id: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    // A purpose of its own, so that no other token of the same secret is ever this one.
    mac.update(format!("digest-web-copy\u{0}{delivery_id}").as_bytes());
    mac
}

/// The token of delivery `id`'s web copy.
pub fn token(secret: &[u8], delivery_id: i64) -> String {
    let tag = mac(secret, delivery_id).finalize().into_bytes();
    URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES])
}

/// Whether `given` is delivery `id`'s token; compared in constant time.
pub fn verify(secret: &[u8], delivery_id: i64, given: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(given.trim()) else {
        return false;
    };
    bytes.len() == MAC_BYTES
        && mac(secret, delivery_id)
            .verify_truncated_left(&bytes)
            .is_ok()
}

/// The absolute URL of delivery `id`'s web copy on `base_url`.
pub fn url(base_url: &str, secret: &[u8], delivery_id: i64) -> String {
    format!(
        "{}/digests/{delivery_id}?token={}",
        base_url.trim_end_matches('/'),
        token(secret, delivery_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_its_own_delivery_only() {
        let t = token(b"secret", 41);
        assert_eq!(t.len(), 22);
        assert!(verify(b"secret", 41, &t));
        assert!(!verify(b"secret", 42, &t), "another delivery");
        assert!(!verify(b"other", 41, &t), "another installation");
        assert!(!verify(b"secret", 41, &t[..21]), "a cut token");
        assert!(!verify(b"secret", 41, ""));
        assert!(!verify(b"secret", 41, "not base64 at all!"));
        assert_eq!(
            url("https://news.example.org/mail/", b"secret", 41),
            format!("https://news.example.org/mail/digests/41?token={t}")
        );
    }
}
