//! Admin API for source health: `GET /api/v1/sources`.

use axum::{Json, extract::State};
use chrono::SecondsFormat;
use serde::Serialize;

use super::ApiState;
use super::auth::Admin;
use crate::{
    clock::from_ms,
    config::{Config, SourceConfig},
    domain::SourceType,
    error::AppError,
    store::{SourceState, Store},
};

/// One configured source and how its last polls went.
#[derive(Serialize)]
pub struct SourceHealth {
    pub name: String,
    pub kind: SourceType,
    /// Section it feeds; `null` for a directory, whose folders name the sections.
    pub section: Option<String>,
    /// The folder, list page or feed it watches.
    pub target: String,
    /// `ok`, `error` (the last poll failed or found nothing) or `pending` (not run yet).
    pub status: &'static str,
    pub last_success_at: Option<String>,
    pub last_error_at: Option<String>,
    pub last_error: Option<String>,
    pub items_found: i64,
    /// Failed polls since the last success.
    pub consecutive_errors: i64,
}

/// The answer of `GET /api/v1/sources`, shaped like every list.
#[derive(Serialize)]
pub struct SourceList {
    items: Vec<SourceHealth>,
    next_cursor: Option<String>,
}

fn rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(|ms| from_ms(ms).to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// `GET /api/v1/sources`: every configured source in config order.
pub async fn list(_: Admin, State(state): State<ApiState>) -> Result<Json<SourceList>, AppError> {
    Ok(Json(SourceList {
        items: health(&state.config, &state.store).await?,
        next_cursor: None,
    }))
}

/// The health of every configured source, in config order (also shown by the console).
pub async fn health(config: &Config, store: &Store) -> anyhow::Result<Vec<SourceHealth>> {
    let mut items = Vec::with_capacity(config.sources.len());
    for config in &config.sources {
        let name = config.name();
        if items.iter().any(|i: &SourceHealth| i.name == name) {
            continue;
        }
        let (section, target) = match config {
            SourceConfig::Directory { path, .. } => (None, path.display().to_string()),
            SourceConfig::Web {
                section, list_url, ..
            } => (Some(section.clone()), list_url.clone()),
            SourceConfig::Feed { section, url, .. } => (Some(section.clone()), url.clone()),
        };
        let recorded = (store.source_state(&name).await?)
            .unwrap_or_else(|| SourceState::never_ran(&name, config.kind()));
        let status = match (recorded.last_success_at, recorded.last_error_at) {
            (None, None) => "pending",
            _ if recorded.consecutive_errors > 0 => "error",
            _ => "ok",
        };
        items.push(SourceHealth {
            name,
            kind: config.kind(),
            section,
            target,
            status,
            last_success_at: rfc3339(recorded.last_success_at),
            last_error_at: rfc3339(recorded.last_error_at),
            last_error: recorded.last_error,
            items_found: recorded.items_found,
            consecutive_errors: recorded.consecutive_errors,
        });
    }
    Ok(items)
}
