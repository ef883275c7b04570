//! `GET /subscriptions/manage?token=` and `POST /subscriptions/manage`: change sections,
//! schedule and mail language of an active subscription.

use axum::{extract::State, http::StatusCode, response::Response};
use minijinja::{Value, context};
use serde_json::json;

use super::{
    choices::Catalog,
    input::{Format, Problem},
    link_token::{LinkError, LinkPage, TokenForm, TokenPage, link_error},
    pages::{Link, Notice, Page, json_response, ser},
    state::PageState,
};
use crate::domain::{Preferences, Subscriber, SubscriberStatus, TokenKind};
use crate::error::AppError;

/// The page behind a manage link.
pub struct Manage;

impl LinkPage for Manage {
    const KIND: TokenKind = TokenKind::Manage;
    const PATH: &'static str = "/subscriptions/manage";
    const FIELDS: &'static [&'static str] = &["token", "sections", "schedule", "locale"];
}

/// `GET /subscriptions/manage?token=…`: the current choices in a form.
pub async fn show(
    State(state): State<PageState>,
    link: TokenPage<Manage>,
) -> Result<Response, AppError> {
    let (page, format) = (link.page(&state), link.format);
    let sub = state.store.subscriber_by_email(&link.found.email).await?;
    let Some(sub) = sub.filter(|s| s.status == SubscriberStatus::Active) else {
        return Ok(not_active(&page, format));
    };
    let catalog = Catalog::load(&state.store, &state.config).await?;
    Ok(match format {
        Format::Json => json_response(StatusCode::OK, view(&sub)),
        Format::Html => form(&page, &catalog, &sub, &link.token, &[], false),
    })
}

/// `POST /subscriptions/manage` (fields `token`, `sections`, `schedule`, `locale`).
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<PageState>,
    posted: TokenForm<Manage>,
) -> Result<Response, AppError> {
    let (page, format, m) = (posted.page(&state), posted.format, &posted.found);
    let sub = state
        .store
        .subscriber_by_email(&m.email)
        .await?
        .filter(|s| s.generation == m.generation);
    let Some(sub) = sub.filter(|s| s.status == SubscriberStatus::Active) else {
        return Ok(not_active(&page, format));
    };
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let fields = &posted.fields;
    let sections = catalog.pick_sections(fields.many("sections"));
    let schedule = fields
        .one("schedule")
        .and_then(|s| catalog.pick_schedule(Some(s.unwrap_or(&sub.schedule))));
    // The page speaks the language asked for; when one is asked for, mail does too.
    let locale = if posted.locale_asked {
        page.locale.to_owned()
    } else {
        sub.locale.clone()
    };
    let (Ok(sections), Ok(schedule)) = (sections.clone(), schedule.clone()) else {
        let problems: Vec<Problem> = [sections.err(), schedule.err()]
            .into_iter()
            .flatten()
            .collect();
        return Ok(match format {
            Format::Json => page.problem(format, &problems[0]),
            Format::Html => form(&page, &catalog, &sub, &posted.token, &problems, false),
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
        Format::Html => form(&page, &catalog, &updated, &posted.token, &[], true),
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
        sections => ser(&catalog.section_choices(&page.state.templates, page.locale, chosen)),
        schedules => ser(&catalog.schedule_choices(&page.state.templates, page.locale, Some(&sub.schedule))),
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
