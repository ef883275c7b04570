//! Publisher API: `PUT`, `GET`, `DELETE /api/v1/articles/{id}` and the article list.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{ApiState, JsonBody, auth::Publisher, parse_limit};
use crate::{
    articles::{Article, ArticleInput, ArticleStatus},
    error::AppError,
    store::{ArticleCursor, PutResult},
};

/// An article as the API answers it.
#[derive(Serialize)]
pub struct ArticleView {
    #[serde(flatten)]
    article: Article,
    status: ArticleStatus,
}

fn view(state: &ApiState, article: Article) -> ArticleView {
    let status = article.status(state.clock.now());
    ArticleView { article, status }
}

/// `PUT /api/v1/articles/{id}`: 201 created, 200 updated or unchanged.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn put(
    _: Publisher,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ArticleInput>,
) -> Result<Response, AppError> {
    let outcome = state.ingest.put(&id, input, "api").await?;
    let status = match outcome.result {
        PutResult::Created => StatusCode::CREATED,
        PutResult::Updated | PutResult::Unchanged => StatusCode::OK,
    };
    let result = match outcome.result {
        PutResult::Created => "created",
        PutResult::Updated => "updated",
        PutResult::Unchanged => "unchanged",
    };
    let mut resp = (status, Json(view(&state, outcome.article))).into_response();
    resp.headers_mut().insert(
        "tidings-result",
        axum::http::HeaderValue::from_static(result),
    );
    Ok(resp)
}

/// `GET /api/v1/articles/{id}`.
pub async fn get(
    _: Publisher,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ArticleView>, AppError> {
    match state.store.get_article(&id).await? {
        Some(a) => Ok(Json(view(&state, a))),
        None => Err(AppError::NotFound(format!("no article with id {id:?}"))),
    }
}

/// `DELETE /api/v1/articles/{id}`: 204, the article retracted from feeds and digests.
pub async fn delete(
    _: Publisher,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    state.ingest.retract(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct ArticleList {
    items: Vec<ArticleView>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/articles?section=&limit=&cursor=`, newest first, scheduled ones included.
pub async fn list(
    _: Publisher,
    State(state): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ArticleList>, AppError> {
    super::only_params(&q, &["section", "limit", "cursor"])?;
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let cursor = match q.get("cursor") {
        Some(c) => Some(ArticleCursor::decode(c).ok_or_else(|| {
            AppError::bad_request(Some("cursor"), "cursor is not one this API gave out")
        })?),
        None => None,
    };
    let section = q.get("section").filter(|s| !s.is_empty());
    if let Some(s) = section
        && state.store.get_section(s).await?.is_none()
    {
        return Err(AppError::bad_request(
            Some("section"),
            format!("unknown section {s:?}"),
        ));
    }
    let page = state
        .store
        .list_articles(section.map(String::as_str), None, limit, cursor.as_ref())
        .await?;
    Ok(Json(ArticleList {
        items: page.items.into_iter().map(|a| view(&state, a)).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}
