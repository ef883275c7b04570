//! `GET /subscriptions/manage?token=` and `POST /subscriptions/manage`: change sections,
//! schedule and mail language of an active subscription.

use axum::{
    extract::{Request, State},
    http::StatusCode,
    response::Response,
};
use minijinja::{Value, context};
use serde_json::json;

use super::{
    choices::Catalog,
    input::{self, Fields, Format, Problem},
    link_token::{
        LinkError, Opened, link_error, locale_field, open, page_for, resolve, token_field,
    },
    pages::{Link, Notice, Page, json_response, ser},
};
use crate::domain::{Preferences, Subscriber, SubscriberStatus, TokenKind};
use crate::{AppState, error::AppError};

const PATH: &str = "/subscriptions/manage";

/// `GET /subscriptions/manage?token=…`: the current choices in a form.
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
    let sub = state.store.subscriber_by_email(&m.email).await?;
    let Some(sub) = sub.filter(|s| s.status == SubscriberStatus::Active) else {
        return Ok(not_active(&page, format));
    };
    let catalog = Catalog::load(&state.store, &state.config).await?;
    Ok(match format {
        Format::Json => json_response(StatusCode::OK, view(&sub)),
        Format::Html => form(&page, &catalog, &sub, raw.unwrap_or_default(), &[], false),
    })
}

/// `POST /subscriptions/manage` (fields `token`, `sections`, `schedule`, `locale`).
#[tracing::instrument(skip_all)]
pub async fn submit(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let (parts, body) = req.into_parts();
    let query = Fields::from_query(parts.uri.query());
    let site = state.config.site.language.clone();
    let (format, fields) = match input::read_body(&parts.headers, body, false).await {
        Ok(x) => x,
        Err(p) => {
            let (page, _) = page_for(&state, &parts.headers, Ok(None), &site, PATH, None);
            return Ok(page.problem(input::answer_format(&parts.headers), &p));
        }
    };
    let raw = token_field(&fields, &query).map(|t| t.map(str::to_owned));
    let found = resolve(
        &state,
        raw.clone().ok().flatten().as_deref(),
        TokenKind::Manage,
    )
    .await?;
    let fallback = found
        .as_ref()
        .map_or(site.as_str(), |m| m.locale.as_str())
        .to_owned();
    let (page, locale_ok) = page_for(
        &state,
        &parts.headers,
        locale_field(&fields, &query),
        &fallback,
        PATH,
        None,
    );
    let checked = fields
        .only(&["token", "sections", "schedule", "locale"])
        .and(raw);
    let raw = match checked.and_then(|r| locale_ok.map(|()| r)) {
        Ok(r) => r.unwrap_or_default(),
        Err(p) => return Ok(page.problem(format, &p)),
    };
    let sub = match found {
        Ok(m) => state
            .store
            .subscriber_by_email(&m.email)
            .await?
            .filter(|s| s.generation == m.generation),
        Err(e) => return Ok(link_error(&page, format, &e)),
    };
    let Some(sub) = sub.filter(|s| s.status == SubscriberStatus::Active) else {
        return Ok(not_active(&page, format));
    };
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let sections = catalog.pick_sections(fields.many("sections"));
    let schedule = fields
        .one("schedule")
        .and_then(|s| catalog.pick_schedule(Some(s.unwrap_or(&sub.schedule))));
    // The page speaks the language asked for; when one is asked for, mail does too.
    let locale = match locale_field(&fields, &query) {
        Ok(Some(_)) => page.locale.to_owned(),
        _ => sub.locale.clone(),
    };
    let (Ok(sections), Ok(schedule)) = (sections.clone(), schedule.clone()) else {
        let problems: Vec<Problem> = [sections.err(), schedule.err()]
            .into_iter()
            .flatten()
            .collect();
        return Ok(match format {
            Format::Json => page.problem(format, &problems[0]),
            Format::Html => form(&page, &catalog, &sub, &raw, &problems, false),
        });
    };
    let prefs = Preferences {
        sections,
        schedule,
        locale,
    };
    if !state
        .store
        .update_preferences(sub.id, sub.generation, &prefs)
        .await?
    {
        return Ok(link_error(&page, format, &LinkError::Unknown));
    }
    let updated = state
        .store
        .subscriber_by_email(&sub.email)
        .await?
        .unwrap_or(sub);
    Ok(match format {
        Format::Json => json_response(StatusCode::OK, view(&updated)),
        Format::Html => form(&page, &catalog, &updated, &raw, &[], true),
    })
}

fn view(s: &Subscriber) -> serde_json::Value {
    json!({
        "email": s.email,
        "status": s.status,
        "sections": s.sections,
        "all_sections": s.all_sections,
        "schedule": s.schedule,
        "locale": s.locale,
    })
}

fn form(
    page: &Page<'_>,
    catalog: &Catalog,
    sub: &Subscriber,
    token: &str,
    problems: &[Problem],
    saved: bool,
) -> Response {
    let errors: std::collections::BTreeMap<String, String> = problems
        .iter()
        .map(|p| {
            (
                p.field.clone().unwrap_or_else(|| "form".into()),
                page.problem_text(p),
            )
        })
        .collect();
    let chosen = (!sub.all_sections).then_some(sub.sections.as_slice());
    let status = problems
        .iter()
        .map(|p| p.status)
        .min()
        .unwrap_or(StatusCode::OK);
    let extra = context! {
        email => &sub.email,
        token => token,
        saved => saved,
        mail_locale => &sub.locale,
        sections => ser(&catalog.section_choices(page.state, page.locale, chosen)),
        schedules => ser(&catalog.schedule_choices(page.state, page.locale, Some(&sub.schedule))),
        errors => if errors.is_empty() { Value::from(()) } else { ser(&errors) },
    };
    page.render(
        "pages/manage.html",
        &page.text("manage.title"),
        status,
        extra,
    )
}

fn not_active(page: &Page<'_>, format: Format) -> Response {
    match format {
        Format::Json => json_response(
            StatusCode::CONFLICT,
            json!({ "error": page.text("manage.not_active") }),
        ),
        Format::Html => page.notice(
            StatusCode::CONFLICT,
            Notice {
                title: page.text("manage.title"),
                lines: vec![page.text("manage.not_active")],
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
