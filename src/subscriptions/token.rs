//! Link tokens: 256 random bits, shown once in a link, stored only as their SHA-256.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Confirmation links work this long (SPEC §5); manage and unsubscribe links never expire.
pub const CONFIRM_TTL_MS: i64 = 48 * 3_600_000;

/// Length of a token's text form: 32 bytes in unpadded base64url.
const TOKEN_LEN: usize = 43;

/// A freshly made token: the text for the link and the hash for the database.
pub struct NewToken {
    pub text: String,
    pub hash: String,
}

/// Makes a token from the operating system's random source.
pub fn generate() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&text);
    NewToken { text, hash }
}

/// The stored form of a token: SHA-256, lower-case hex.
pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether `text` has the shape of a token (so garbage never reaches the database).
pub fn well_formed(text: &str) -> bool {
    text.len() == TOKEN_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Compares a presented token's hash with a stored one without an early exit. The row was
/// found by hash equality in an index; this second check keeps the final decision
/// constant-time whatever the database did.
pub fn matches(presented_hash: &str, stored_hash: &str) -> bool {
    presented_hash
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_well_formed_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.text, b.text);
        assert!(well_formed(&a.text), "{}", a.text);
        assert_eq!(a.hash, hash(&a.text));
        assert_eq!(a.hash.len(), 64);
        assert!(matches(&hash(&a.text), &a.hash));
        assert!(!matches(&hash(&b.text), &a.hash));
        for bad in ["", "short", &"a".repeat(44), &format!("{}=", &a.text[..42])] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
