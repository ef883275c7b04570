//! `GET /unsubscribe?token=` shows a page; `POST /unsubscribe?token=` unsubscribes, from the
//! page's form or as an RFC 8058 one-click request (`List-Unsubscribe=One-Click`, urlencoded
//! or multipart, no cookies, no Origin): answered 200 with no redirect, harmless to repeat.

use axum::{extract::State, http::StatusCode, response::Response};
use minijinja::context;
use serde_json::json;

use super::{
    input::Format,
    link_token::{LinkError, LinkPage, TokenForm, TokenPage, link_error},
    pages::{Link, Notice, Page, json_response},
    state::PageState,
};
use crate::domain::{SubscriberStatus, TokenKind};
use crate::{clock::to_ms, error::AppError};

/// The page behind an unsubscribe link (a manage token: it never expires).
pub struct Unsubscribe;

impl LinkPage for Unsubscribe {
    const KIND: TokenKind = TokenKind::Manage;
    const PATH: &'static str = "/unsubscribe";
    const FIELDS: &'static [&'static str] = &["token", "locale", "List-Unsubscribe"];
    const MULTIPART: bool = true;
}

/// `GET /unsubscribe?token=…`: the question, with a button; never a change.
pub async fn show(
    State(state): State<PageState>,
    link: TokenPage<Unsubscribe>,
) -> Result<Response, AppError> {
    let (page, format, m) = (link.page(&state), link.format, &link.found);
    if m.status == SubscriberStatus::Unsubscribed {
        return Ok(done(&page, format, &m.email));
    }
    Ok(match format {
        Format::Json => json_response(StatusCode::OK, json!({ "status": m.status })),
        Format::Html => page.render(
            "pages/unsubscribe.html",
            &page.text("unsubscribe.title"),
            StatusCode::OK,
            context! { email => &m.email, token => &link.token },
        ),
    })
}

/// `POST /unsubscribe?token=…` (or field `token`).
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<PageState>,
    form: TokenForm<Unsubscribe>,
) -> Result<Response, AppError> {
    let (page, format, m) = (form.page(&state), form.format, &form.found);
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
