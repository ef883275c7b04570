//! Admin API for sections: list, create or edit.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};

use super::{
    ApiState, JsonBody,
    auth::{Admin, Publisher},
};
use crate::{
    domain::{Section, SectionSlug, check_text},
    error::AppError,
    events::Change,
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
