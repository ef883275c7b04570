//! Publisher API: `PUT`, `GET`, `DELETE /api/v1/articles/{id}` and the article list; and, for
//! admins, `POST /api/v1/articles/{id}/announce`.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::{
    ApiState, JsonBody,
    auth::{Admin, Publisher},
    parse_limit,
};
use crate::{
    articles::{Article, ArticleInput, ArticleStatus},
    digests::announcement::Refused,
    error::AppError,
    store::{Announced, ArticleCursor, PutResult},
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

/// `POST /api/v1/articles/{id}/announce` body (optional).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AnnounceInput {
    /// Announce again an article announced before.
    #[serde(default)]
    force: bool,
}

/// `POST /api/v1/articles/{id}/announce` (admins): mails the article now to every active
/// subscriber of its section, whatever their schedule. 202 `{"run_id"}`; 404 for an unknown,
/// retracted or not yet published article (saying which); 409 `{"error", "run_id"}` when it
/// was announced before and `force` is not set.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn announce(
    _: Admin,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let input: AnnounceInput = if body.iter().all(u8::is_ascii_whitespace) {
        AnnounceInput::default()
    } else {
        super::json::parse(&body)?
    };
    let done = match state.digests.announce(&id, input.force).await? {
        Ok(done) => done,
        Err(Refused::Unknown) => {
            return Err(AppError::NotFound(format!("no article with id {id:?}")));
        }
        Err(Refused::Retracted) => {
            return Err(AppError::NotFound(format!(
                "article {id:?} was retracted; restore it before announcing it"
            )));
        }
        Err(Refused::NotYetPublished(at)) => {
            return Err(AppError::NotFound(format!(
                "article {id:?} is not published yet (it will be at {}); announce it once it is",
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            )));
        }
    };
    let run_id = match done {
        Announced::Started(run_id) => run_id,
        // Forced: the run another request made at the same moment is this one's too.
        Announced::Already(run_id) if input.force => run_id,
        Announced::Already(run_id) => {
            let error = format!(
                "article {id:?} was already announced (run {run_id}); send {{\"force\": true}} \
                 to announce it again"
            );
            let body = serde_json::json!({ "error": error, "run_id": run_id });
            return Ok((StatusCode::CONFLICT, Json(body)).into_response());
        }
    };
    let body = serde_json::json!({ "run_id": run_id });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
