//! `GET /subscriptions/confirm?token=` shows a button and changes nothing (mail scanners
//! fetch links); `POST /subscriptions/confirm` activates; `POST /subscriptions/resend`
//! sends a new confirmation mail when the old link expired.

use std::collections::BTreeMap;

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
    links,
    outbox::{Job, MailJob},
    pages::{Action, Link, Notice, Page, json_response},
    subscribe::{CONFIRM_TTL_MS, RESEND_INTERVAL_MS, client_ip, sent_page, too_many},
    token,
};
use crate::{
    AppState,
    clock::to_ms,
    domain::{Email, SubscriberStatus, TokenKind},
    error::AppError,
    store::TokenMatch,
};

const PATH: &str = "/subscriptions/confirm";

/// `GET /subscriptions/confirm?token=…`: a page with a button; never a change.
pub async fn show(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let query = Fields::from_query(req.uri().query());
    let Opened {
        page,
        format,
        found: m,
    } = match open(&state, &query, req.headers(), TokenKind::Confirm, PATH).await? {
        Ok(opened) => opened,
        Err(answer) => return Ok(answer),
    };
    let raw = page.token;
    let now = to_ms(state.clock.now());
    Ok(match m.status {
        SubscriberStatus::Pending if expired(&m, now) => expired_page(&page, format, &m, raw),
        SubscriberStatus::Pending => match format {
            Format::Json => json_response(StatusCode::OK, json!({ "status": "pending" })),
            Format::Html => page.render(
                "pages/confirm.html",
                &page.text("confirm.title"),
                StatusCode::OK,
                context! { email => &m.email, token => raw },
            ),
        },
        SubscriberStatus::Active => already_page(&page, format),
        _ => link_error(&page, format, &LinkError::Unknown),
    })
}

/// `POST /subscriptions/confirm` (field `token`): activates the subscription.
#[tracing::instrument(skip_all)]
pub async fn activate(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let Submitted {
        page,
        format,
        m,
        raw,
    } = match submitted(&state, req).await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    let now = to_ms(state.clock.now());
    if m.status == SubscriberStatus::Pending && expired(&m, now) {
        return Ok(expired_page(&page, format, &m, Some(&raw)));
    }
    let manage = token::generate();
    if m.status == SubscriberStatus::Pending
        && state
            .store
            .confirm_subscriber(m.subscriber_id, m.generation, &manage.hash, now)
            .await?
    {
        tracing::info!(subscriber_id = m.subscriber_id, "subscription confirmed");
        return Ok(match format {
            Format::Json => json_response(StatusCode::OK, json!({ "status": "active" })),
            Format::Html => {
                // Relative to this site, so the link works whichever host served the page.
                let url = links::subscriber_links(&page.base_path(), &manage.text, page.locale)
                    .manage_url;
                page.notice(
                    StatusCode::OK,
                    Notice {
                        title: page.text("confirmed.title"),
                        lines: vec![page.text("confirmed.body").replace("{email}", &m.email)],
                        link: Some(Link {
                            url,
                            label: page.text("confirmed.manage_link"),
                        }),
                        ..Notice::default()
                    },
                )
            }
        });
    }
    // Not pending (any more): a second press, or a stale link.
    let again = resolve(&state, Some(&raw), TokenKind::Confirm).await?;
    Ok(match again {
        Ok(m) if m.status == SubscriberStatus::Active => already_page(&page, format),
        _ => link_error(&page, format, &LinkError::Unknown),
    })
}

/// `POST /subscriptions/resend` (field `token` of an expired or lost confirmation link).
#[tracing::instrument(skip_all)]
pub async fn resend(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    // It sends mail, so it counts against the client's limit like `POST /subscribe`.
    let limited = state
        .subscriptions
        .clients
        .check(client_ip(&req), to_ms(state.clock.now()));
    let Submitted {
        page, format, m, ..
    } = match submitted(&state, req).await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    if let Err(wait) = limited {
        return Ok(page.problem(format, &too_many(wait)));
    }
    match m.status {
        SubscriberStatus::Pending => {}
        SubscriberStatus::Active => return Ok(already_page(&page, format)),
        _ => return Ok(link_error(&page, format, &LinkError::Unknown)),
    }
    let now = to_ms(state.clock.now());
    let subs = &state.subscriptions;
    let Ok(slot) = subs.outbox.sender.try_reserve() else {
        return Ok(page.problem(format, &too_many(60)));
    };
    if let Err(wait) = subs.confirmations.take(&state.store, now).await? {
        return Ok(page.problem(format, &too_many(wait)));
    }
    let fresh = token::generate();
    let sent = state
        .store
        .reissue_confirmation(
            m.subscriber_id,
            m.generation,
            &fresh.hash,
            now + CONFIRM_TTL_MS,
            now,
            RESEND_INTERVAL_MS,
        )
        .await?;
    match Email::parse(&m.email) {
        Ok(to) if sent => slot.send(Job::Mail(MailJob::Confirm {
            to,
            locale: m.locale.clone(),
            token: fresh.text,
            schedule: m.schedule.clone(),
        })),
        _ => subs.confirmations.give_back(&state.store, now).await,
    }
    Ok(match format {
        Format::Json => json_response(StatusCode::ACCEPTED, json!({ "status": "pending" })),
        Format::Html => sent_page(&page, &m.email),
    })
}

/// A POST whose token resolved, with the page to answer on.
struct Submitted<'a> {
    page: Page<'a>,
    format: Format,
    m: TokenMatch,
    raw: String,
}

async fn submitted(
    state: &AppState,
    req: Request,
) -> Result<Result<Submitted<'_>, Response>, AppError> {
    let (parts, body) = req.into_parts();
    let query = Fields::from_query(parts.uri.query());
    let site = state.config.site.language.as_str();
    let (format, fields) = match input::read_body(&parts.headers, body, false).await {
        Ok(x) => x,
        Err(p) => {
            let (page, _) = page_for(state, &parts.headers, Ok(None), site, PATH, None);
            return Ok(Err(page.problem(input::answer_format(&parts.headers), &p)));
        }
    };
    let raw = token_field(&fields, &query).map(|t| t.map(str::to_owned));
    let found = resolve(
        state,
        raw.clone().ok().flatten().as_deref(),
        TokenKind::Confirm,
    )
    .await?;
    let fallback = found
        .as_ref()
        .map_or(site, |m| m.locale.as_str())
        .to_owned();
    let (page, locale_ok) = page_for(
        state,
        &parts.headers,
        locale_field(&fields, &query),
        &fallback,
        PATH,
        None,
    );
    let checked = fields
        .only(&["token", "locale"])
        .and(raw)
        .and_then(|r| locale_ok.map(|()| r));
    let raw = match checked {
        Ok(r) => r.unwrap_or_default(),
        Err(p) => return Ok(Err(page.problem(format, &p))),
    };
    Ok(match found {
        Ok(m) => Ok(Submitted {
            page,
            format,
            m,
            raw,
        }),
        Err(e) => Err(link_error(&page, format, &e)),
    })
}

fn expired(m: &TokenMatch, now: i64) -> bool {
    m.expires_at.is_some_and(|e| e <= now)
}

fn expired_page(page: &Page<'_>, format: Format, m: &TokenMatch, raw: Option<&str>) -> Response {
    match format {
        Format::Json => json_response(
            StatusCode::GONE,
            json!({ "error": page.text("expired.title"), "field": "token" }),
        ),
        Format::Html => {
            let fields = BTreeMap::from([
                ("token".to_owned(), raw.unwrap_or_default().to_owned()),
                ("locale".to_owned(), page.locale.to_owned()),
            ]);
            page.notice(
                StatusCode::GONE,
                Notice {
                    title: page.text("expired.title"),
                    lines: vec![page.text("expired.body").replace("{email}", &m.email)],
                    action: Some(Action {
                        url: format!("{}/subscriptions/resend", page.base_path()),
                        fields,
                        label: page.text("expired.button"),
                    }),
                    ..Notice::default()
                },
            )
        }
    }
}

fn already_page(page: &Page<'_>, format: Format) -> Response {
    match format {
        Format::Json => json_response(StatusCode::OK, json!({ "status": "active" })),
        Format::Html => page.notice(
            StatusCode::OK,
            Notice {
                title: page.text("confirmed.already_title"),
                lines: vec![page.text("confirmed.already_body")],
                ..Notice::default()
            },
        ),
    }
}
