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
    resubscribe,
    state::PageState,
};
use crate::domain::{SubscriberStatus, TokenKind};
use crate::{clock::to_ms, error::AppError, store::TokenMatch};

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
        return done(&state, &page, format, m, &link.token).await;
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
    done(&state, &page, format, m, &form.token).await
}

/// "You are unsubscribed", with a button that undoes it when a click may (see
/// [`resubscribe`](super::resubscribe)), else the way back through the form.
async fn done(
    state: &PageState,
    page: &Page<'_>,
    format: Format,
    m: &TokenMatch,
    token: &str,
) -> Result<Response, AppError> {
    if format == Format::Json {
        return Ok(json_response(
            StatusCode::OK,
            json!({ "status": "unsubscribed" }),
        ));
    }
    let mut notice = Notice {
        title: page.text("unsubscribe.done_title"),
        lines: vec![
            page.text("unsubscribe.done_body")
                .replace("{email}", &m.email),
        ],
        ..Notice::default()
    };
    if state
        .store
        .can_resubscribe(m.subscriber_id, m.generation)
        .await?
    {
        notice.lines.push(page.text("unsubscribe.resubscribe_hint"));
        notice.action = Some(resubscribe::offer(page, token));
    } else {
        notice
            .lines
            .push(page.text("unsubscribe.resubscribe_by_mail"));
        notice.link = Some(Link {
            url: format!("{}/subscribe?locale={}", page.base_path(), page.locale),
            label: page.text("unsubscribe.resubscribe_link"),
        });
    }
    Ok(page.notice(StatusCode::OK, notice))
}
