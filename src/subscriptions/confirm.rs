//! `GET /subscriptions/confirm?token=` shows a button and changes nothing (mail scanners
//! fetch links); `POST /subscriptions/confirm` activates; `POST /subscriptions/resend`
//! sends a new confirmation mail when the old link expired.

use std::collections::BTreeMap;

use axum::{
    extract::{FromRequest, Request, State},
    http::StatusCode,
    response::Response,
};
use minijinja::context;
use serde_json::json;

use super::{
    held,
    input::Format,
    limits::RESEND_INTERVAL_MS,
    link_token::{LinkError, LinkPage, TokenForm, TokenPage, link_error, resolve},
    links,
    outbox::{BUSY_RETRY_AFTER, Job, MailJob},
    pages::{Action, Link, Notice, Page, json_response},
    state::PageState,
    subscribe::{client_ip, sent_page, too_many},
    token::{self, CONFIRM_TTL_MS},
};
use crate::{
    clock::to_ms,
    domain::{Email, Preferences, SubscriberStatus, TokenKind},
    error::AppError,
    store::TokenMatch,
};

/// The page behind a confirmation link.
pub struct Confirmation;

impl LinkPage for Confirmation {
    const KIND: TokenKind = TokenKind::Confirm;
    const PATH: &'static str = "/subscriptions/confirm";
    const FIELDS: &'static [&'static str] = &["token", "locale"];
}

/// `GET /subscriptions/confirm?token=…`: a page with a button; never a change.
pub async fn show(
    State(state): State<PageState>,
    link: TokenPage<Confirmation>,
) -> Result<Response, AppError> {
    let (page, format, m) = (link.page(&state), link.format, &link.found);
    let now = to_ms(state.clock.now());
    Ok(match m.status {
        SubscriberStatus::Pending if expired(m, now) => expired_page(&page, format, m, &link.token),
        SubscriberStatus::Pending => match format {
            Format::Json => json_response(StatusCode::OK, json!({ "status": "pending" })),
            Format::Html => page.render(
                "pages/confirm.html",
                &page.text("confirm.title"),
                StatusCode::OK,
                context! { email => &m.email, token => &link.token },
            ),
        },
        SubscriberStatus::Active => already_page(&page, format),
        _ => link_error(&page, format, &LinkError::Unknown),
    })
}

/// `POST /subscriptions/confirm` (field `token`): activates the subscription.
#[tracing::instrument(skip_all)]
pub async fn activate(
    State(state): State<PageState>,
    form: TokenForm<Confirmation>,
) -> Result<Response, AppError> {
    let (page, format, m) = (form.page(&state), form.format, &form.found);
    let now = to_ms(state.clock.now());
    if m.status == SubscriberStatus::Pending && expired(m, now) {
        return Ok(expired_page(&page, format, m, &form.token));
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
    let again = resolve(&state.store, Some(&form.token), Confirmation::KIND).await?;
    Ok(match again {
        Ok(m) if m.status == SubscriberStatus::Active => already_page(&page, format),
        _ => link_error(&page, format, &LinkError::Unknown),
    })
}

/// `POST /subscriptions/resend` (field `token` of an expired or lost confirmation link).
#[tracing::instrument(skip_all)]
pub async fn resend(State(state): State<PageState>, req: Request) -> Result<Response, AppError> {
    // It sends mail, so it counts against the client's limit like `POST /subscribe`, and
    // from the first byte: before the form is read, whatever it holds.
    let limited = state
        .clients
        .check(client_ip(&req), to_ms(state.clock.now()));
    let form = match TokenForm::<Confirmation>::from_request(req, &state).await {
        Ok(form) => form,
        Err(answer) => return Ok(answer),
    };
    let (page, format, m) = (form.page(&state), form.format, &form.found);
    if let Err(wait) = limited {
        return Ok(page.problem(format, &too_many(wait)));
    }
    match m.status {
        SubscriberStatus::Pending => {}
        SubscriberStatus::Active => return Ok(already_page(&page, format)),
        _ => return Ok(link_error(&page, format, &LinkError::Unknown)),
    }
    let now = to_ms(state.clock.now());
    let Ok(slot) = state.outbox.try_reserve() else {
        return Ok(page.problem(format, &too_many(BUSY_RETRY_AFTER.as_secs())));
    };
    if let Err(wait) = state.confirmations.take(&state.store, now).await? {
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
        _ => {
            state.confirmations.give_back(&state.store, now).await;
            hold_back(&state, m, now).await?;
        }
    }
    Ok(match format {
        Format::Json => json_response(StatusCode::ACCEPTED, json!({ "status": "pending" })),
        Format::Html => sent_page(&page, &m.email),
    })
}

/// A new mail asked for within the address's window: kept for the window's end, with the
/// choices the subscriber has then (a sign-up through the form may still change them).
async fn hold_back(state: &PageState, m: &TokenMatch, now: i64) -> Result<(), AppError> {
    let sub = state.store.subscriber_by_email(&m.email).await?;
    let Some(s) = sub.filter(|s| s.status == SubscriberStatus::Pending) else {
        return Ok(());
    };
    let prefs = Preferences {
        sections: (!s.all_sections).then_some(s.sections),
        schedule: s.schedule,
        locale: s.locale,
    };
    held::defer(&state.store, &state.deferred, &m.email, &prefs, now).await?;
    Ok(())
}

fn expired(m: &TokenMatch, now: i64) -> bool {
    m.expires_at.is_some_and(|e| e <= now)
}

fn expired_page(page: &Page<'_>, format: Format, m: &TokenMatch, token: &str) -> Response {
    match format {
        Format::Json => json_response(
            StatusCode::GONE,
            json!({ "error": page.text("expired.title"), "field": "token" }),
        ),
        Format::Html => {
            let fields = BTreeMap::from([
                ("token".to_owned(), token.to_owned()),
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
