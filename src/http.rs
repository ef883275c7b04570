//! Router assembly and the middleware every request passes through.

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{AppState, error::AppError};

/// Largest request body accepted anywhere, in bytes.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Longest a handler may take before the client gets 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let layered = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", crate::api::router())
        .merge(crate::subscriptions::router())
        .merge(crate::admin::router(&state))
        .fallback(not_found)
        // Each `layer` call wraps everything above it; the last one added runs first.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // The limit layer refuses a too-long Content-Length in plain text; every error of
        // this service is the JSON shape.
        .layer(middleware::map_response(json_payload_too_large))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(CatchPanicLayer::new())
        .with_state(state.clone());
    // Feed documents are answered from memory with nothing to await and no body to read, so
    // they skip the layers above (the per-request span, timer and body wrappers cost more
    // than serving them); they count themselves in the request metrics.
    crate::feeds::router()
        .with_state(state)
        .fallback_service(layered)
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    state.metrics.count_request(resp.status().as_u16());
    resp
}

async fn json_payload_too_large(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return AppError::PayloadTooLarge.into_response();
    }
    resp
}

async fn not_found() -> AppError {
    AppError::NotFound("no such page".into())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.store.ping().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
