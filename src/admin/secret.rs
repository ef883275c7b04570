//! Random secrets (session ids, set-password links, API tokens, CSRF keys) and what of
//! them is stored: only a hash.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What the database keeps of a secret: its SHA-256, hex (the subscriber tokens' rule).
pub use crate::subscriptions::token::hash;

/// 256 random bits as 43 URL-safe characters, made as subscriber tokens are.
pub fn generate() -> String {
    crate::subscriptions::token::generate().text
}

/// The CSRF token of forms shown under `key` (a session id, or the pre-login cookie): an
/// HMAC of a fixed label, so it can be checked without storing it and reveals nothing of
/// the key.
pub fn csrf_token(key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(b"tidings admin console csrf");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Compares two tokens in constant time (for equal lengths; lengths are not secret).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_stored_hashed() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), a);
    }

    #[test]
    fn csrf_tokens_belong_to_their_key() {
        assert!(same(&csrf_token("k1"), &csrf_token("k1")));
        assert!(!same(&csrf_token("k1"), &csrf_token("k2")));
        assert!(!same("", &csrf_token("k1")));
    }
}
