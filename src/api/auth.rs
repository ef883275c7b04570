//! Bearer-token extractors; tokens are compared in constant time, only from the header.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiState;
use crate::error::AppError;

/// Proof that the request carried the admin token.
pub struct Admin;

/// Proof that the request carried the publisher token or the admin token.
pub struct Publisher;

/// Compares `given` with `expected` without leaking where they differ or their lengths:
/// both are hashed first, then the digests compared in constant time.
pub fn token_matches(given: &[u8], expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        // Still hash, so an unset token costs the same time as a wrong one.
        let _ = Sha256::digest(given);
        return false;
    };
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

fn bearer(parts: &Parts) -> Option<&[u8]> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let bytes = value.as_bytes();
    let (scheme, rest) = bytes.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    ApiState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let state = ApiState::from_ref(state);
        let given = bearer(parts).unwrap_or_default();
        if token_matches(given, state.config.auth.admin_token.as_deref()) {
            Ok(Admin)
        } else {
            Err(AppError::Unauthorized)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Publisher
where
    ApiState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let state = ApiState::from_ref(state);
        let given = bearer(parts).unwrap_or_default();
        // Evaluate both so the answer time does not say which token exists.
        let admin = token_matches(given, state.config.auth.admin_token.as_deref());
        let publisher = token_matches(given, state.config.auth.publisher_token.as_deref());
        if (admin | publisher) && !given.is_empty() {
            Ok(Publisher)
        } else {
            Err(AppError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(token_matches(b"s3cret-token", Some("s3cret-token")));
        assert!(!token_matches(b"s3cret", Some("s3cret-token")));
        assert!(!token_matches(b"s3cret-token-x", Some("s3cret-token")));
        assert!(!token_matches(b"", Some("s3cret-token")));
        assert!(!token_matches(b"anything", None));
    }
}
