//! The JSON API under `/api/v1` (SPEC §3 and §7).

mod articles;
pub mod auth;
mod json;
mod schedule_input;
mod schedule_view;
pub mod schedules;
mod sections;
pub mod sources;
pub mod subscribers;
mod unknown;

use std::sync::Arc;

use axum::{Router, extract::FromRef, routing::get};

use crate::{
    AppState, articles::Ingest, clock::Clock, config::Config, digests::Digests, events::Events,
    store::Store,
};

pub use json::JsonBody;

/// What the API's handlers use, taken from the app's state for each request.
#[derive(Clone)]
pub struct ApiState {
    /// Tokens (`auth`), the site's time zone, the configured sources.
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    /// Tells feeds and replicas what changed.
    pub events: Events,
    /// Article writes, validated and announced.
    pub ingest: Ingest,
    /// Run now and previews.
    pub digests: Digests,
}

impl FromRef<AppState> for ApiState {
    fn from_ref(app: &AppState) -> Self {
        Self {
            config: app.config.clone(),
            store: app.store.clone(),
            clock: app.clock.clone(),
            events: app.events.clone(),
            ingest: app.ingest.clone(),
            digests: app.digests.clone(),
        }
    }
}

/// Routes of `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sections", get(sections::list))
        .route(
            "/sections/{slug}",
            get(sections::get)
                .put(sections::put)
                .delete(sections::delete),
        )
        .route("/schedules", get(schedules::list))
        .route(
            "/schedules/{slug}",
            get(schedules::get)
                .put(schedules::put)
                .delete(schedules::delete),
        )
        .route(
            "/schedules/{slug}/run",
            axum::routing::post(schedules::run_now),
        )
        .route("/schedules/{slug}/preview", get(schedules::preview))
        .route("/runs", get(schedules::runs))
        .route("/runs/{id}", get(schedules::run))
        .route("/runs/{id}/deliveries", get(schedules::run_deliveries))
        .route("/articles", get(articles::list))
        .route("/sources", get(sources::list))
        .route(
            "/articles/{id}",
            get(articles::get)
                .put(articles::put)
                .delete(articles::delete),
        )
        .route(
            "/articles/{id}/announce",
            axum::routing::post(articles::announce),
        )
        .merge(subscribers::router())
}

/// `limit` of list endpoints: default 100, 1 to 1,000.
/// Refuses a query parameter the call does not know (a typo must not be silently ignored).
pub fn only_params(
    q: &std::collections::HashMap<String, String>,
    allowed: &[&str],
) -> Result<(), crate::error::AppError> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(crate::error::AppError::bad_request(
            Some(k),
            format!("unknown query parameter {k:?}"),
        )),
        None => Ok(()),
    }
}

/// The `cursor` of a list paged by numeric id, if given.
pub fn id_cursor(
    q: &std::collections::HashMap<String, String>,
) -> Result<Option<i64>, crate::error::AppError> {
    q.get("cursor")
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                crate::error::AppError::bad_request(
                    Some("cursor"),
                    "cursor is not one this API gave out",
                )
            })
        })
        .transpose()
}

pub fn parse_limit(raw: Option<&str>) -> Result<u32, crate::error::AppError> {
    match raw {
        None => Ok(100),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(crate::error::AppError::bad_request(
                Some("limit"),
                "limit must be a whole number from 1 to 1000",
            )),
        },
    }
}
