//! Admin API for schedules and runs (SPEC §7).

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
};
use serde::Serialize;

pub use super::schedule_input::ScheduleInput;
use super::{
    ApiState, JsonBody,
    auth::Admin,
    id_cursor, only_params, parse_limit,
    schedule_view::{ScheduleView, request_locale, site_locale, views},
    unknown::unknown_schedule,
};
use crate::{
    clock::to_ms,
    digests::Preview,
    domain::{Delivery, Run, RunFigure, SectionSlug},
    error::AppError,
};

/// A list answer.
#[derive(Serialize)]
pub struct List<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/schedules`.
pub async fn list(
    _: Admin,
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<List<ScheduleView>>, AppError> {
    let locale = request_locale(&state, &headers);
    let schedules = state.store.list_schedules().await?;
    Ok(Json(List {
        items: views(&state, schedules, locale).await?,
        next_cursor: None,
    }))
}

/// `GET /api/v1/schedules/{slug}`: one schedule as the list shows it.
pub async fn get(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ScheduleView>, AppError> {
    match state.store.get_schedule(&slug).await? {
        Some(s) => Ok(Json(one_view(&state, s, &headers).await?)),
        None => Err(unknown_schedule(&state, &slug).await),
    }
}

/// `s` as the API answers it, in the request's language.
async fn one_view(
    state: &ApiState,
    s: crate::domain::Schedule,
    headers: &HeaderMap,
) -> Result<ScheduleView, AppError> {
    let locale = request_locale(state, headers);
    let mut v = views(state, vec![s], locale).await?;
    v.pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("schedule view vanished")))
}

/// `PUT /api/v1/schedules/{slug}`: create or replace; takes effect at the next tick. Without
/// `names`, the names in other locales than the site's stay as they were.
pub async fn put(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<ScheduleInput>,
) -> Result<(StatusCode, Json<ScheduleView>), AppError> {
    let slug = SectionSlug::parse(&slug).map_err(|e| AppError::invalid("slug", e))?;
    let fields = input.validate(&state.config.site.timezone, site_locale(&state))?;
    let created = state
        .store
        .put_schedule(slug.as_str(), &fields, to_ms(state.clock.now()))
        .await?;
    let s = state
        .store
        .get_schedule(slug.as_str())
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("schedule vanished after put")))?;
    let view = one_view(&state, s, &headers).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(view),
    ))
}

/// `DELETE /api/v1/schedules/{slug}`: 204, or 404 (listing the schedules) when there is none.
pub async fn delete(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
) -> Result<StatusCode, AppError> {
    if state
        .store
        .delete_schedule(&slug, to_ms(state.clock.now()))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(unknown_schedule(&state, &slug).await)
    }
}

#[derive(Serialize)]
pub struct Started {
    run_id: i64,
}

/// `POST /api/v1/schedules/{slug}/run`: a run now, as if it fired.
pub async fn run_now(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
) -> Result<(StatusCode, Json<Started>), AppError> {
    if state.store.get_schedule(&slug).await?.is_none() {
        return Err(unknown_schedule(&state, &slug).await);
    }
    let run_id = state.digests.run_now(&slug).await?;
    Ok((StatusCode::ACCEPTED, Json(Started { run_id })))
}

/// `GET /api/v1/runs?schedule=&limit=&cursor=`.
pub async fn runs(
    _: Admin,
    State(state): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<List<Run>>, AppError> {
    only_params(&q, &["schedule", "limit", "cursor"])?;
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let before = id_cursor(&q)?;
    let schedule = q.get("schedule").filter(|s| !s.is_empty());
    let mut items = state
        .store
        .list_runs(schedule.map(String::as_str), before, limit + 1)
        .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(List { items, next_cursor }))
}

/// `GET /api/v1/runs/{id}`.
pub async fn run(
    _: Admin,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Run>, AppError> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("no run {id:?}")))?;
    state
        .store
        .get_run(id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no run {id}")))
}

/// `GET /api/v1/runs/{id}/deliveries?status=&limit=&cursor=`: the deliveries of a run, with
/// their attempts, last SMTP reply and times; `status` is one of the run figures.
pub async fn run_deliveries(
    _: Admin,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<List<Delivery>>, AppError> {
    only_params(&q, &["status", "limit", "cursor"])?;
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("no run {id:?}")))?;
    let filter = match q.get("status").filter(|s| !s.is_empty()) {
        Some(s) => Some(RunFigure::parse(s).map_err(|_| {
            AppError::bad_request(
                Some("status"),
                format!("status must be one of {}", RunFigure::NAMES.join(", ")),
            )
        })?),
        None => None,
    };
    let limit = parse_limit(q.get("limit").map(String::as_str))?;
    let after = id_cursor(&q)?.unwrap_or(0);
    if state.store.run_info(id).await?.is_none() {
        return Err(AppError::NotFound(format!("no run {id}")));
    }
    let mut items = state
        .store
        .run_deliveries(id, filter, after, limit + 1)
        .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Json(List { items, next_cursor }))
}

/// `GET /api/v1/schedules/{slug}/preview?email=…`: the HTML that subscriber would get now, or
/// (with [`SKIPPED_HEADER`]) a note saying why they would get nothing.
pub async fn preview(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let Some(schedule) = state.store.get_schedule(&slug).await? else {
        return Err(unknown_schedule(&state, &slug).await);
    };
    let email = q
        .get("email")
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| AppError::bad_request(Some("email"), "email is required"))?;
    let email = crate::domain::Email::parse(email)
        .map_err(|e| AppError::bad_request(Some("email"), e.to_string()))?;
    let subscriber = state
        .store
        .subscriber_by_email(email.as_str())
        .await?
        .ok_or_else(|| AppError::NotFound("no subscriber with that address".into()))?;
    let html = match state.digests.preview(&schedule, subscriber.id).await? {
        Preview::Mail(html) => html,
        // A run would mail them nothing: say so and why, rather than show a digest nobody gets.
        // In the request's language, instants on the site's wall clock.
        Preview::Skipped(why) => {
            let locale = request_locale(&state, &headers);
            let reason = why.explain(locale, state.config.site_timezone().0);
            let (title, lead) = if locale == "en" {
                (
                    "No digest",
                    format!(
                        "A run of {} now would send this subscriber nothing",
                        schedule.slug
                    ),
                )
            } else {
                (
                    "无邮件",
                    format!("此刻运行 {} 的话，这位订阅者什么也收不到", schedule.slug),
                )
            };
            let (colon, stop) = if locale == "en" {
                (": ", ".")
            } else {
                ("：", "。")
            };
            let note = format!(
                "<!doctype html><html lang=\"{locale}\"><meta charset=\"utf-8\"><title>{title}</title>\n\
                 <p>{}{colon}{}{stop}</p>\n",
                html_escape::encode_text(&lead),
                html_escape::encode_text(&reason),
            );
            return Ok((
                [
                    (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (SKIPPED_HEADER, why.code()),
                ],
                note,
            )
                .into_response());
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}

/// Set on a preview answer when a run would mail the subscriber nothing; its value is the
/// reason's code (`nothing_new`, `not_active`).
pub const SKIPPED_HEADER: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-tidings-skipped");
