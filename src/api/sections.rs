//! Admin API for sections: list, read, create or edit, delete.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::{
    ApiState, JsonBody,
    auth::{Admin, Publisher},
    unknown::unknown_section,
};
use crate::{
    config::SourceConfig,
    domain::{Section, SectionSlug, check_text},
    error::AppError,
    events::Change,
    store::SectionDeletion,
};

#[derive(Serialize)]
pub struct SectionList {
    items: Vec<Section>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/sections` (admin or publisher: publishers need the slugs).
pub async fn list(
    _: Publisher,
    State(state): State<ApiState>,
) -> Result<Json<SectionList>, AppError> {
    Ok(Json(SectionList {
        items: state.store.list_sections().await?,
        next_cursor: None,
    }))
}

/// `GET /api/v1/sections/{slug}` (admin or publisher, as the list).
pub async fn get(
    _: Publisher,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
) -> Result<Json<Section>, AppError> {
    match state.store.get_section(&slug).await? {
        Some(section) => Ok(Json(section)),
        None => Err(unknown_section(&state, &slug).await),
    }
}

/// `DELETE /api/v1/sections/{slug}`: 204 when it held no articles; 409 saying how many it
/// still holds, or which configured source still writes to it. Its feeds answer 404 at once.
pub async fn delete(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    if state.store.get_section(&slug).await?.is_none() {
        return Err(unknown_section(&state, &slug).await);
    }
    // Such a source would fail on its next poll, and the config check at start would refuse it.
    if let Some((i, source)) = configured_source_of(&state.config.sources, &slug) {
        let name = source.name();
        return Ok(conflict(
            format!(
                "section {slug:?} is written to by source {name:?} (sources[{i}] of the \
                 configuration); remove that source first"
            ),
            serde_json::json!({ "source": name }),
        ));
    }
    let now = crate::clock::to_ms(state.clock.now());
    match state.store.delete_section(&slug, now).await? {
        SectionDeletion::Deleted => {
            tracing::info!(section = %slug, "section deleted");
            state.events.publish(Change::Sections(vec![slug]));
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        SectionDeletion::Missing => Err(unknown_section(&state, &slug).await),
        SectionDeletion::HasArticles(n) => Ok(conflict(
            format!(
                "section {slug:?} still has {n} article{}; delete them or move them to another \
                 section first",
                if n == 1 { "" } else { "s" }
            ),
            serde_json::json!({ "articles": n }),
        )),
    }
}

/// The first web or feed source of the configuration that puts its articles in `slug`.
fn configured_source_of<'a>(
    sources: &'a [SourceConfig],
    slug: &str,
) -> Option<(usize, &'a SourceConfig)> {
    sources.iter().enumerate().find(|(_, s)| match s {
        SourceConfig::Web { section, .. } | SourceConfig::Feed { section, .. } => section == slug,
        SourceConfig::Directory { .. } => false,
    })
}

/// 409 `{"error", "field": "slug", …extra}`.
fn conflict(message: String, extra: serde_json::Value) -> Response {
    let mut body = serde_json::json!({ "error": message, "field": "slug" });
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    (StatusCode::CONFLICT, Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionInput {
    title: String,
    #[serde(default)]
    description: String,
}

/// `PUT /api/v1/sections/{slug}` `{title, description}`: 201 created, 200 replaced.
pub async fn put(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
    JsonBody(input): JsonBody<SectionInput>,
) -> Result<(StatusCode, Json<Section>), AppError> {
    let slug = SectionSlug::parse(&slug).map_err(|e| AppError::invalid("slug", e))?;
    let title = input.title.split_whitespace().collect::<Vec<_>>().join(" ");
    check_text(&title).map_err(|e| AppError::invalid("title", format!("title {e}")))?;
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::invalid(
            "title",
            "title must be 1 to 200 characters",
        ));
    }
    check_text(&input.description)
        .map_err(|e| AppError::invalid("description", format!("description {e}")))?;
    if input.description.chars().count() > 2000 {
        return Err(AppError::invalid(
            "description",
            "description is longer than 2000 characters",
        ));
    }
    let created = state
        .store
        .put_section(
            slug.as_str(),
            &title,
            input.description.trim(),
            crate::clock::to_ms(state.clock.now()),
        )
        .await?;
    state
        .events
        .publish(Change::Sections(vec![slug.to_string()]));
    let section = state
        .store
        .get_section(slug.as_str())
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("section vanished after put")))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(section)))
}
