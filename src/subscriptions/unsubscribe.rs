//! `GET /unsubscribe?token=` shows a page; `POST /unsubscribe?token=` unsubscribes, from the
//! page's form or as an RFC 8058 one-click request (`List-Unsubscribe=One-Click`, urlencoded
//! or multipart, no cookies, no Origin): answered 200 with no redirect, harmless to repeat.

use axum::{
    extract::{Request, State},
    http::StatusCode,
    response::Response,
};
use minijinja::context;
use serde_json::json;

use super::{
    input::{self, Fields, Format},
    link_token::{
        LinkError, Opened, link_error, locale_field, open, page_for, resolve, token_field,
    },
    pages::{Link, Notice, Page, json_response},
};
use crate::domain::{SubscriberStatus, TokenKind};
use crate::{AppState, clock::to_ms, error::AppError};

const PATH: &str = "/unsubscribe";

/// `GET /unsubscribe?token=…`: the question, with a button; never a change.
pub async fn show(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let query = Fields::from_query(req.uri().query());
    let Opened {
        page,
        format,
        found: m,
    } = match open(&state, &query, req.headers(), TokenKind::Manage, PATH).await? {
        Ok(opened) => opened,
        Err(answer) => return Ok(answer),
    };
    let raw = page.token;
    if m.status == SubscriberStatus::Unsubscribed {
        return Ok(done(&page, format, &m.email));
    }
    Ok(match format {
        Format::Json => json_response(StatusCode::OK, json!({ "status": m.status })),
        Format::Html => page.render(
            "pages/unsubscribe.html",
            &page.text("unsubscribe.title"),
            StatusCode::OK,
            context! { email => &m.email, token => raw },
        ),
    })
}

/// `POST /unsubscribe?token=…` (or field `token`).
#[tracing::instrument(skip_all)]
pub async fn submit(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let (parts, body) = req.into_parts();
    let query = Fields::from_query(parts.uri.query());
    let site = state.config.site.language.clone();
    let (format, fields) = match input::read_body(&parts.headers, body, true).await {
        Ok(x) => x,
        Err(p) => {
            let (page, _) = page_for(&state, &parts.headers, Ok(None), &site, PATH, None);
            return Ok(page.problem(input::answer_format(&parts.headers), &p));
        }
    };
    let raw = token_field(&fields, &query);
    let found = resolve(&state, raw.clone().ok().flatten(), TokenKind::Manage).await?;
    let fallback = found
        .as_ref()
        .map_or(site.as_str(), |m| m.locale.as_str())
        .to_owned();
    let locale = locale_field(&fields, &query);
    let (page, locale_ok) = page_for(&state, &parts.headers, locale, &fallback, PATH, None);
    let checked = fields
        .only(&["token", "locale", "List-Unsubscribe"])
        .and(raw.map(drop))
        .and(locale_ok);
    if let Err(p) = checked {
        return Ok(page.problem(format, &p));
    }
    let m = match found {
        Ok(m) => m,
        Err(e) => return Ok(link_error(&page, format, &e)),
    };
    let now = to_ms(state.clock.now());
    if !state
        .store
        .unsubscribe(m.subscriber_id, m.generation, now)
        .await?
    {
        return Ok(link_error(&page, format, &LinkError::Unknown));
    }
    tracing::info!(subscriber_id = m.subscriber_id, "unsubscribed");
    Ok(done(&page, format, &m.email))
}

fn done(page: &Page<'_>, format: Format, email: &str) -> Response {
    match format {
        Format::Json => json_response(StatusCode::OK, json!({ "status": "unsubscribed" })),
        Format::Html => page.notice(
            StatusCode::OK,
            Notice {
                title: page.text("unsubscribe.done_title"),
                lines: vec![page.text("unsubscribe.done_body").replace("{email}", email)],
                link: Some(Link {
                    url: format!("{}/subscribe?locale={}", page.base_path(), page.locale),
                    label: page.text("unsubscribe.resubscribe_link"),
                }),
                ..Notice::default()
            },
        ),
    }
}
