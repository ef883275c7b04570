//! What a console request carries once the guard has looked at it: its language, client,
//! and the person behind its session, if any.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, Uri, request::Parts},
    response::{IntoResponse, Response},
};

use crate::domain::Account;

/// The person behind a request's live session.
#[derive(Debug, Clone)]
pub struct Signed {
    pub account: Account,
    /// What the database knows the session by.
    pub session_hash: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

/// What every console request carries, worked out once by the guard middleware.
#[derive(Debug, Clone)]
pub struct Visit {
    pub locale: &'static str,
    pub uri: Uri,
    /// The peer address, as text.
    pub client: String,
    pub signed: Option<Signed>,
    /// The CSRF token of the login and set-password forms (from [`PRE_COOKIE`]).
    pub pre_csrf: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Visit>().cloned().ok_or_else(|| {
            tracing::error!("console handler reached without the console guard");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })
    }
}
