//! Router assembly and the middleware every request passes through.

use std::{sync::Arc, time::Duration};

use axum::{
    BoxError, Router,
    body::{Body, Bytes, HttpBody},
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tower::{ServiceBuilder, util::MapResponseLayer};
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{AppState, error::AppError, metrics::Metrics, store::Store};

/// Largest request body accepted anywhere, in bytes.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Longest a handler may take before the client gets 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let counters = state.metrics.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", crate::api::router())
        .merge(crate::subscriptions::router())
        .merge(crate::feeds::router())
        .merge(crate::digests::web_copy::router())
        .merge(crate::admin::router(&state))
        .fallback(not_found)
        // One `layer` call for the whole stack, so that a request goes through one boxed
        // service rather than one per layer. The first layer listed runs first.
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::new())
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                }))
                .layer(MapResponseLayer::new(move |resp: Response| {
                    counters.count_request(resp.status().as_u16());
                    resp
                }))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                // The limit layer refuses a too-long Content-Length in plain text; every error
                // of this service is the JSON shape.
                .layer(MapResponseLayer::new(json_payload_too_large))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .with_state(state)
}

/// The limit layer's 413 in the JSON shape of every error; other answers as they are.
fn json_payload_too_large<B>(resp: Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return AppError::PayloadTooLarge.into_response();
    }
    resp.map(Body::new)
}

async fn not_found() -> AppError {
    AppError::NotFound("no such page".into())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(store): State<Store>) -> Response {
    if store.ping().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
