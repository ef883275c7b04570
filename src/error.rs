//! One error type for handlers; client errors say what and which field, 500s hide the cause.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<String>,
    },
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// 403: a valid token (or person) without the role the call needs.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 404 for a name in the path that names nothing; the message lists the names that do.
    #[error("{message}")]
    UnknownName { message: String, field: String },
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// 422 naming `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// 404 for `field` = `given`, a `kind` (schedule, section) that does not exist, listing
    /// the `valid` ones: `no schedule "dialy"; schedules: daily, weekly`.
    pub fn unknown_name(
        field: &str,
        kind: &str,
        given: &str,
        valid: impl IntoIterator<Item = String>,
    ) -> Self {
        let valid: Vec<String> = valid.into_iter().collect();
        let listed = if valid.is_empty() {
            format!("there are no {kind}s")
        } else {
            format!("{kind}s: {}", valid.join(", "))
        };
        AppError::UnknownName {
            message: format!("no {kind} {given:?}; {listed}"),
            field: field.to_owned(),
        }
    }

    /// 400 with an optional field.
    pub fn bad_request(field: Option<&str>, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message, field) = match &self {
            AppError::BadRequest { message, field } => {
                (StatusCode::BAD_REQUEST, message.clone(), field.as_deref())
            }
            AppError::Invalid { message, field } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                message.clone(),
                field.as_deref(),
            ),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, self.to_string(), None),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone(), None),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone(), None),
            AppError::UnknownName { message, field } => {
                (StatusCode::NOT_FOUND, message.clone(), Some(field.as_str()))
            }
            AppError::Conflict(m) => (StatusCode::CONFLICT, m.clone(), None),
            AppError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, self.to_string(), None),
            AppError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, self.to_string(), None)
            }
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                    None,
                )
            }
        };
        let mut resp = (
            status,
            Json(Body {
                error: &message,
                field,
            }),
        )
            .into_response();
        match self {
            AppError::Unauthorized => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::TooManyRequests { retry_after_secs } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        resp
    }
}
