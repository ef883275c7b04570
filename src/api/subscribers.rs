//! Admin API for subscribers (SPEC §7): list, CSV export and import, erasure.

use std::collections::HashMap;

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::Serialize;

use super::{ApiState, auth::Admin, parse_limit};
use crate::{
    clock::{from_ms, to_ms},
    domain::{Email, Subscriber, SubscriberStatus},
    error::AppError,
    store::SubscriberCursor,
    subscriptions::import::{ImportRules, import_csv},
};

/// Rows fetched per page while streaming an export.
const EXPORT_PAGE: u32 = 1000;

/// Routes under `/api/v1/subscribers`.
pub fn router() -> Router<crate::AppState> {
    Router::new()
        .route("/subscribers", get(list))
        .route("/subscribers/export", get(export))
        .route("/subscribers/import", post(import))
        .route("/subscribers/{email}", delete(erase))
}

/// A subscriber as the admin API shows it.
#[derive(Serialize)]
pub struct SubscriberView {
    email: String,
    status: SubscriberStatus,
    /// Chosen section slugs; empty with `all_sections`.
    sections: Vec<String>,
    all_sections: bool,
    schedule: String,
    locale: String,
    source: String,
    created_at: String,
    confirmed_at: Option<String>,
    unsubscribed_at: Option<String>,
    bounced_at: Option<String>,
    /// `{"reason": "hard_bounce"|"soft_bounces"|"complaint", "at": …}` while suppressed.
    suppressed: Option<SuppressedView>,
}

/// Why and since when a subscriber gets no mail.
#[derive(Serialize)]
pub struct SuppressedView {
    reason: String,
    at: String,
}

fn rfc3339(ms: i64) -> String {
    from_ms(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl From<Subscriber> for SubscriberView {
    fn from(s: Subscriber) -> Self {
        Self {
            email: s.email,
            status: s.status,
            sections: s.sections,
            all_sections: s.all_sections,
            schedule: s.schedule,
            locale: s.locale,
            source: s.source,
            created_at: rfc3339(s.created_at),
            confirmed_at: s.confirmed_at.map(rfc3339),
            unsubscribed_at: s.unsubscribed_at.map(rfc3339),
            bounced_at: s.bounced_at.map(rfc3339),
            suppressed: match (s.suppressed_at, s.suppressed_reason) {
                (Some(at), Some(reason)) => Some(SuppressedView {
                    reason,
                    at: rfc3339(at),
                }),
                _ => None,
            },
        }
    }
}

/// A page of subscribers.
#[derive(Serialize)]
pub struct SubscriberList {
    items: Vec<SubscriberView>,
    next_cursor: Option<String>,
}

fn parse_query(
    q: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<Option<SubscriberStatus>, AppError> {
    super::only_params(q, allowed)?;
    match q
        .get("status")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => SubscriberStatus::parse(s).map(Some).map_err(|_| {
            AppError::bad_request(
                Some("status"),
                format!(
                    "status must be one of {}",
                    SubscriberStatus::NAMES.join(", ")
                ),
            )
        }),
    }
}

/// `GET /api/v1/subscribers?status=&limit=&cursor=`.
pub async fn list(
    _: Admin,
    State(state): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<SubscriberList>, AppError> {
    let status = parse_query(&q, &["status", "limit", "cursor"])?;
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let cursor = match q.get("cursor") {
        Some(c) => Some(SubscriberCursor::decode(c).ok_or_else(|| {
            AppError::bad_request(Some("cursor"), "cursor is not one this API gave out")
        })?),
        None => None,
    };
    let (items, next) = state.store.list_subscribers(status, limit, cursor).await?;
    Ok(Json(SubscriberList {
        items: items.into_iter().map(SubscriberView::from).collect(),
        next_cursor: next.map(SubscriberCursor::encode),
    }))
}

/// `GET /api/v1/subscribers/export?status=`: CSV streamed page by page (memory stays flat
/// however many subscribers there are), importable again.
pub async fn export(
    _: Admin,
    State(state): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let status = parse_query(&q, &["status"])?;
    let header_line =
        Bytes::from_static(b"email,sections,schedule,status,locale,created_at,confirmed_at\n");
    let pages = futures_util::stream::unfold(Some(None), move |cursor| {
        let state = state.clone();
        async move {
            let cursor: Option<SubscriberCursor> = cursor?;
            match state
                .store
                .list_subscribers(status, EXPORT_PAGE, cursor)
                .await
            {
                Ok((items, next)) => Some((Ok(csv_rows(&items)), next.map(Some))),
                Err(e) => {
                    tracing::error!(error = ?e, "export failed part-way");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
            }
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(header_line) }),
        pages,
    );
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"subscribers.csv\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Rows of the export CSV after its header line, formulas neutralised (also the console's).
pub fn csv_rows(items: &[Subscriber]) -> Bytes {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for s in items {
        let _ = w.write_record([
            crate::subscriptions::import::neutralise_cell(&s.email).as_ref(),
            &s.sections.join(" "),
            &s.schedule,
            s.status.as_str(),
            &s.locale,
            &rfc3339(s.created_at),
            &s.confirmed_at.map(rfc3339).unwrap_or_default(),
        ]);
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// `POST /api/v1/subscribers/import` with a CSV body: 200 and a report by line number.
#[tracing::instrument(skip_all)]
pub async fn import(
    _: Admin,
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if !matches!(
        mime.as_deref(),
        None | Some("text/csv" | "application/csv" | "text/plain")
    ) {
        return Err(AppError::bad_request(None, "Content-Type must be text/csv"));
    }
    let rules = ImportRules::load(&state.store, &state.config).await?;
    let now = to_ms(state.clock.now());
    match import_csv(&state.store, &rules, body.as_ref(), now, |_, _| {}).await? {
        Ok(report) => Ok((StatusCode::OK, Json(report)).into_response()),
        Err(why) => Err(AppError::invalid("header", why)),
    }
}

/// `DELETE /api/v1/subscribers/{email}`: erases the person and their tokens; 204.
#[tracing::instrument(skip_all)]
pub async fn erase(
    _: Admin,
    State(state): State<ApiState>,
    Path(email): Path<String>,
) -> Result<StatusCode, AppError> {
    let email = Email::parse(&email).map_err(|e| AppError::invalid("email", e.to_string()))?;
    if state.store.erase_subscriber(email.as_str()).await? {
        tracing::info!("subscriber erased");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("no subscriber with that address".into()))
    }
}
