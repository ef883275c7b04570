//! Bearer-token extractors. A token is one of the config's (`auth.admin_token`,
//! `auth.publisher_token`, compared in constant time) or a named token made in the console
//! (looked up by its SHA-256). Missing or unknown → 401; known without the role → 403.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiState;
use crate::{clock::to_ms, domain::Role, error::AppError, subscriptions::token};

/// Proof that the request carried the admin token or a named token of role admin.
pub struct Admin;

/// Proof that the request carried the publisher or admin token, or any named token (an
/// editor's token has the publisher's rights: articles, and reading sections).
pub struct Publisher;

/// A named token's last use is written at most this often (not on every call).
const TOUCH_EVERY_MS: i64 = 60_000;

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

/// The role of the named token `given`, if it is a live one; records its use.
async fn named_token(state: &ApiState, given: &[u8]) -> Result<Option<Role>, AppError> {
    if given.is_empty() {
        return Ok(None);
    }
    let Some(token) = state
        .store
        .api_token_by_hash(&token::hash(&String::from_utf8_lossy(given)))
        .await?
    else {
        return Ok(None);
    };
    let now = to_ms(state.clock.now());
    if token
        .last_used_ms
        .is_none_or(|used| now - used >= TOUCH_EVERY_MS)
    {
        state.store.touch_api_token(token.id, now).await?;
    }
    Ok(Some(token.role))
}

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    ApiState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let state = ApiState::from_ref(state);
        let given = bearer(parts).unwrap_or_default();
        let admin = token_matches(given, state.config.auth.admin_token.as_deref());
        let publisher = token_matches(given, state.config.auth.publisher_token.as_deref());
        if admin {
            return Ok(Admin);
        }
        if publisher && !given.is_empty() {
            return Err(forbidden("the publisher token"));
        }
        match named_token(&state, given).await? {
            Some(Role::Admin) => Ok(Admin),
            Some(Role::Editor) => Err(forbidden("an editor's token")),
            None => Err(AppError::Unauthorized),
        }
    }
}

fn forbidden(what: &str) -> AppError {
    AppError::Forbidden(format!(
        "{what} may not make this call; it needs the admin token or a token with the admin role"
    ))
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
            return Ok(Publisher);
        }
        match named_token(&state, given).await? {
            Some(_) => Ok(Publisher),
            None => Err(AppError::Unauthorized),
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
