//! `GET /admin/returned` (admins): the mail that came back — bounces, complaints, mailto
//! unsubscribes, automatic replies, and what nothing could be made of — newest first, with
//! counts for the last 30 days; `GET /admin/returned/{id}` shows a kept message as text.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    page::{Notice, View, ser},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    clock::{from_ms, to_ms},
    error::AppError,
    metrics::INBOUND_KINDS,
};

/// Messages per page.
const PAGE: i64 = 50;
/// Bytes of a kept message shown.
const SHOWN: usize = 256 * 1024;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct ReturnedQuery {
    #[serde(default)]
    kind: String,
    before: Option<i64>,
}

#[derive(Serialize)]
struct Row {
    id: i64,
    at: String,
    via: String,
    kind: String,
    subscriber_id: Option<i64>,
    email: Option<String>,
    run_id: Option<i64>,
    status: Option<String>,
    detail: Option<String>,
    kept: bool,
}

/// `GET /admin/returned`.
pub async fn show(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(q): Query<ReturnedQuery>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let kind = INBOUND_KINDS.iter().find(|k| **k == q.kind.trim()).copied();
    let since = to_ms(state.clock.now()) - 30 * 86_400_000;
    let counts = state.store.inbound_counts(since).await?.by_kind;
    let counts: Vec<_> = INBOUND_KINDS
        .iter()
        .map(|k| {
            let n = counts.iter().find(|(c, _)| c == k).map_or(0, |(_, n)| *n);
            context! { kind => *k, n => n }
        })
        .collect();
    let listed = state.store.inbound_list(kind, q.before, PAGE + 1).await?;
    let older = (listed.len() as i64 > PAGE)
        .then(|| listed.get(PAGE as usize - 1).map(|r| r.id))
        .flatten()
        .map(|id| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            if let Some(k) = kind {
                query.append_pair("kind", k);
            }
            query.append_pair("before", &id.to_string());
            format!("{}/returned?{}", state.admin_path(), query.finish())
        });
    let rows: Vec<Row> = listed
        .into_iter()
        .take(PAGE as usize)
        .map(|r| Row {
            id: r.id,
            at: view.time(from_ms(r.received_at)),
            via: r.via,
            kind: r.kind,
            subscriber_id: r.subscriber_id,
            email: r.email,
            run_id: r.run_id,
            status: r.status,
            detail: r.detail,
            kept: r.kept,
        })
        .collect();
    Ok(view.render(
        "admin/returned.html",
        &view.text("returned.title"),
        StatusCode::OK,
        context! {
            counts => counts,
            kinds => INBOUND_KINDS,
            kind => kind.unwrap_or_default(),
            rows => ser(&rows),
            older => older,
            receiving => state.config.inbound.enabled(),
        },
    ))
}

/// `GET /admin/returned/{id}`: a kept message, as text (never rendered as HTML).
pub async fn message(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let raw = match id.parse::<i64>() {
        Ok(id) => state.store.inbound_raw(id).await?,
        Err(_) => None,
    };
    let Some(raw) = raw else {
        return Ok(view.notice(
            StatusCode::NOT_FOUND,
            Notice::error(
                view.text("returned.gone_title"),
                vec![view.text("returned.gone")],
            )
            .link(
                format!("{}/returned", state.admin_path()),
                view.text("returned.back"),
            ),
        ));
    };
    let cut = raw.len().min(SHOWN);
    Ok(view.render(
        "admin/returned_message.html",
        &view.text("returned.message_title"),
        StatusCode::OK,
        context! {
            text => String::from_utf8_lossy(&raw[..cut]).into_owned(),
            truncated => raw.len() > SHOWN,
            bytes => raw.len(),
        },
    ))
}
