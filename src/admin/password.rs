//! Console passwords: Argon2id hashes (PHC strings), the rules a new one must pass, and a
//! dummy hash so that a login for an unknown address costs what a real one costs.

use std::{collections::HashSet, sync::OnceLock};

use rand::RngCore;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};

/// Fewest characters a password may have.
pub const MIN_CHARS: usize = 10;
/// Most characters a password may have (hashing a megabyte would be a cheap attack).
pub const MAX_CHARS: usize = 256;

/// The most common passwords, refused whatever their length.
const COMMON: &str = include_str!("common_passwords.txt");

/// Why a new password is refused; `code` names its message in the strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weak {
    TooShort,
    TooLong,
    Common,
    /// The password is the account's own address (or its name part).
    IsEmail,
    /// The two fields differ.
    Mismatch,
}

impl Weak {
    /// Key of the message under `admin.password.errors`.
    pub fn code(self) -> &'static str {
        match self {
            Weak::TooShort => "too_short",
            Weak::TooLong => "too_long",
            Weak::Common => "common",
            Weak::IsEmail => "is_email",
            Weak::Mismatch => "mismatch",
        }
    }
}

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Checks a new password for `email` against the rules.
pub fn check(password: &str, repeated: &str, email: &str) -> Result<(), Weak> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Weak::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weak::TooLong);
    }
    let lower = password.trim().to_lowercase();
    if common().contains(lower.as_str()) {
        return Err(Weak::Common);
    }
    let name = email.split('@').next().unwrap_or(email);
    if lower == email || lower == name {
        return Err(Weak::IsEmail);
    }
    if password != repeated {
        return Err(Weak::Mismatch);
    }
    Ok(())
}

/// The Argon2id PHC string of `password` with a fresh salt (OWASP's parameters, the
/// crate's defaults: 19 MiB, 2 passes).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hash password: {e}"))
}

/// Whether `password` matches the PHC string `stored` (a malformed one never matches).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of a random password, checked instead when the address is unknown or has no
/// password yet: the answer then takes as long as for a real account.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&super::secret::generate()).expect("hash a random password"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_a_thousand_common_passwords() {
        assert_eq!(common().len(), 1000);
        assert!(common().contains("123456"));
        assert!(common().contains("qwertyuiop"));
    }

    #[test]
    fn weak_passwords_are_refused_with_their_reason() {
        let e = "li.lei@example.org";
        assert_eq!(check("short", "short", e), Err(Weak::TooShort));
        assert_eq!(check("1234567890", "1234567890", e), Err(Weak::Common));
        assert_eq!(check("QwertyUiop", "QwertyUiop", e), Err(Weak::Common));
        assert_eq!(check(e, e, e), Err(Weak::IsEmail));
        let long = "x".repeat(MAX_CHARS + 1);
        assert_eq!(check(&long, &long, e), Err(Weak::TooLong));
        assert_eq!(
            check("青海湖畔的春天来了", "青海湖畔的春天来了", e),
            Err(Weak::TooShort),
            "characters, not bytes, are counted"
        );
        assert_eq!(
            check("correct horse battery", "correct horse", e),
            Err(Weak::Mismatch)
        );
        assert_eq!(
            check("correct horse battery", "correct horse battery", e),
            Ok(())
        );
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("anything", "not a hash"));
        assert!(!verify("anything", dummy_hash()));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let real = hash("correct horse battery").unwrap();
        let (real, dummy) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(dummy_hash()).unwrap(),
        );
        assert_eq!(real.algorithm, dummy.algorithm);
        assert_eq!(real.params, dummy.params);
    }
}
