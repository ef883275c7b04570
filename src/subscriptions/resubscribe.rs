//! `GET /subscriptions/resubscribe?token=` shows whether the subscription can come back (and
//! changes nothing); `POST /subscriptions/resubscribe` (fields `token`, `locale`) brings it
//! back as it was. The token is the one of the unsubscribe link just used.
//!
//! No confirmation mail is needed: the token was mailed to the address, so whoever holds it
//! has shown they read that mailbox, which is all a confirmation mail would prove. Other
//! sites cannot forge the POST either: it needs the token, which they do not have (no cookie
//! or session is involved, so there is nothing for cross-site request forgery to ride on).

use std::collections::BTreeMap;

use axum::{extract::State, http::StatusCode, response::Response};
use serde_json::json;

use super::{
    choices::Catalog,
    input::Format,
    link_token::{LinkPage, TokenForm, TokenPage},
    links,
    pages::{Action, Link, Notice, Page, json_response},
    state::PageState,
};
use crate::{
    clock::to_ms,
    domain::{SubscriberStatus, TokenKind},
    error::AppError,
    store::TokenMatch,
};

/// The page that brings a subscription back.
pub struct Resubscribe;

impl LinkPage for Resubscribe {
    const KIND: TokenKind = TokenKind::Manage;
    const PATH: &'static str = "/subscriptions/resubscribe";
    const FIELDS: &'static [&'static str] = &["token", "locale"];
}

/// `GET /subscriptions/resubscribe?token=…`: the offer, or the state; never a change.
pub async fn show(
    State(state): State<PageState>,
    link: TokenPage<Resubscribe>,
) -> Result<Response, AppError> {
    let (page, format, m) = (link.page(&state), link.format, &link.found);
    if m.status == SubscriberStatus::Active {
        return back(&state, &page, format, m, &link.token).await;
    }
    if !state
        .store
        .can_resubscribe(m.subscriber_id, m.generation)
        .await?
    {
        return Ok(not_possible(&page, format));
    }
    Ok(match format {
        Format::Json => json_response(StatusCode::OK, json!({ "status": m.status })),
        Format::Html => page.notice(
            StatusCode::OK,
            Notice {
                title: page.text("resubscribe.title"),
                lines: vec![
                    page.text("resubscribe.body").replace("{email}", &m.email),
                    page.text("resubscribe.no_mail"),
                ],
                action: Some(offer(&page, &link.token)),
                ..Notice::default()
            },
        ),
    })
}

/// `POST /subscriptions/resubscribe`: active again, with the sections, schedule and language
/// the subscriber had; harmless to repeat.
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<PageState>,
    form: TokenForm<Resubscribe>,
) -> Result<Response, AppError> {
    let (page, format, m) = (form.page(&state), form.format, &form.found);
    if m.status == SubscriberStatus::Active {
        return back(&state, &page, format, m, &form.token).await;
    }
    if !state
        .store
        .resubscribe(m.subscriber_id, m.generation, to_ms(state.clock.now()))
        .await?
    {
        return Ok(not_possible(&page, format));
    }
    tracing::info!(subscriber_id = m.subscriber_id, "subscribed again by token");
    back(&state, &page, format, m, &form.token).await
}

/// The button that brings the subscription of `token` back (for the unsubscribe result page
/// too).
pub fn offer(page: &Page<'_>, token: &str) -> Action {
    Action {
        url: format!("{}{}", page.base_path(), Resubscribe::PATH),
        fields: BTreeMap::from([
            ("token".to_owned(), token.to_owned()),
            ("locale".to_owned(), page.locale.to_owned()),
        ]),
        label: page.text("resubscribe.button"),
    }
}

/// "Subscribed again": what they will get, and where to change it.
async fn back(
    state: &PageState,
    page: &Page<'_>,
    format: Format,
    m: &TokenMatch,
    token: &str,
) -> Result<Response, AppError> {
    if format == Format::Json {
        return Ok(json_response(StatusCode::OK, json!({ "status": "active" })));
    }
    let sub = state.store.subscriber_by_email(&m.email).await?;
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let t = &state.templates;
    let (schedule, sections) = match &sub {
        Some(s) if !s.all_sections => (
            s.schedule.clone(),
            catalog
                .section_choices(t, page.locale, Some(&s.sections))
                .into_iter()
                .filter(|c| c.checked)
                .map(|c| c.title)
                .collect::<Vec<_>>()
                .join(&page.text("common.list_separator")),
        ),
        Some(s) => (s.schedule.clone(), page.text("resubscribe.all_sections")),
        None => (m.schedule.clone(), page.text("resubscribe.all_sections")),
    };
    let body = page
        .text("resubscribe.done_body")
        .replace("{email}", &m.email)
        .replace(
            "{schedule}",
            &catalog.schedule_name(t, page.locale, &schedule),
        )
        .replace("{sections}", &sections);
    Ok(page.notice(
        StatusCode::OK,
        Notice {
            title: page.text("resubscribe.done_title"),
            lines: vec![body],
            link: Some(Link {
                url: links::subscriber_links(&page.base_path(), token, page.locale).manage_url,
                label: page.text("confirmed.manage_link"),
            }),
            ..Notice::default()
        },
    ))
}

/// Not by a click: suppressed after a bounce or complaint, or not unsubscribed at all.
fn not_possible(page: &Page<'_>, format: Format) -> Response {
    match format {
        Format::Json => json_response(
            StatusCode::CONFLICT,
            json!({ "error": page.text("resubscribe.not_possible"), "field": "token" }),
        ),
        Format::Html => page.notice(
            StatusCode::CONFLICT,
            Notice {
                title: page.text("resubscribe.title"),
                lines: vec![page.text("resubscribe.not_possible")],
                link: Some(Link {
                    url: format!("{}/subscribe?locale={}", page.base_path(), page.locale),
                    label: page.text("invalid.subscribe_link"),
                }),
                error: true,
                ..Notice::default()
            },
        ),
    }
}
