//! `GET /subscribe` (the form) and `POST /subscribe` (form or JSON): a pending subscription
//! and a confirmation mail, with the same answer whatever the address's state.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use minijinja::{Value, context};
use serde_json::json;

use super::{
    choices::Catalog,
    input::{self, Fields, Format, Problem},
    outbox::{BUSY_RETRY_AFTER, Job},
    pages::{Notice, Page, json_response, ser},
    state::PageState,
};
use crate::{
    clock::to_ms,
    domain::{Email, Preferences},
    error::AppError,
};

const FIELDS: &[&str] = &["email", "sections", "schedule", "locale"];

/// `GET /subscribe`: the form (or, asked for JSON, what can be chosen).
pub async fn form(State(state): State<PageState>, req: Request) -> Result<Response, AppError> {
    let query = Fields::from_query(req.uri().query());
    let format = input::answer_format(req.headers());
    let site = state.config.site.language.clone();
    let locale = query
        .one("locale")
        .and_then(|l| input::choose_locale(l, req.headers(), &site));
    let page_locale = locale
        .clone()
        .unwrap_or_else(|_| fallback(&state, req.headers()));
    let page = Page {
        state: &state,
        locale: page_locale,
        path: "/subscribe",
        token: None,
    };
    if let Err(p) = locale {
        return Ok(page.problem(format, &p));
    }
    let catalog = Catalog::load(&state.store, &state.config).await?;
    if format == Format::Json {
        return Ok(json_response(
            StatusCode::OK,
            json!({
                "sections": catalog.section_choices(&state.templates, page_locale, None),
                "schedules": catalog.schedule_choices(&state.templates, page_locale, None),
                "default_schedule": catalog.default_schedule,
            }),
        ));
    }
    Ok(render_form(
        &page,
        &catalog,
        "",
        None,
        None,
        &[],
        StatusCode::OK,
    ))
}

/// `POST /subscribe`.
#[tracing::instrument(skip_all)]
pub async fn submit(State(state): State<PageState>, req: Request) -> Result<Response, AppError> {
    let now = to_ms(state.clock.now());
    let ip = client_ip(&req);
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let early = Page {
        state: &state,
        locale: fallback(&state, &headers),
        path: "/subscribe",
        token: None,
    };
    if let Err(wait) = state.clients.check(ip, now) {
        let p = too_many(wait);
        return Ok(early.problem(input::answer_format(&headers), &p));
    }
    let (format, fields) = match input::read_body(&headers, body, false).await {
        Ok(x) => x,
        Err(p) => return Ok(early.problem(input::answer_format(&headers), &p)),
    };
    let site = state.config.site.language.clone();
    let locale = fields
        .one("locale")
        .and_then(|l| input::choose_locale(l, &headers, &site));
    let page = Page {
        state: &state,
        locale: locale.as_ref().unwrap_or(&early.locale),
        ..early
    };
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let mut problems: Vec<Problem> = fields.only(FIELDS).err().into_iter().collect();
    problems.extend(locale.as_ref().err().cloned());
    let email = fields.one("email").and_then(|e| {
        Email::parse(e.unwrap_or("")).map_err(|e| Problem::invalid("email", e.code(), ""))
    });
    let sections = catalog.pick_sections(fields.many("sections"));
    let schedule = fields
        .one("schedule")
        .and_then(|s| catalog.pick_schedule(s));
    problems.extend(email.as_ref().err().cloned());
    problems.extend(sections.as_ref().err().cloned());
    problems.extend(schedule.as_ref().err().cloned());
    let (Ok(email), Ok(sections), Ok(schedule), true) =
        (email, sections, schedule, problems.is_empty())
    else {
        problems.sort_by_key(|p| p.status);
        if format == Format::Json {
            return Ok(page.problem(format, &problems[0]));
        }
        let typed = fields.one("email").ok().flatten().unwrap_or("");
        let chosen = fields.many("sections").to_vec();
        let status = problems
            .iter()
            .map(|p| p.status)
            .min()
            .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let sched = fields.one("schedule").ok().flatten();
        return Ok(render_form(
            &page,
            &catalog,
            typed,
            Some(&chosen),
            sched,
            &problems,
            status,
        ));
    };
    let prefs = Preferences {
        sections,
        schedule,
        locale: page.locale.to_owned(),
    };
    if let Err(p) = request(&state, &email, &prefs, now).await? {
        return Ok(page.problem(format, &p));
    }
    Ok(match format {
        Format::Json => json_response(StatusCode::ACCEPTED, json!({ "status": "pending" })),
        Format::Html => sent_page(&page, email.as_str()),
    })
}

/// Queues a valid sign-up. Every address goes through exactly these steps (a queue slot, a
/// unit of the hourly budget), so neither the answer nor its timing depends on the
/// address's state; the transaction that does depend on it runs in the outbox worker.
async fn request(
    state: &PageState,
    email: &Email,
    prefs: &Preferences,
    now: i64,
) -> Result<Result<(), Problem>, AppError> {
    let Ok(slot) = state.outbox.try_reserve() else {
        return Ok(Err(Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            field: None,
            code: "busy",
            value: BUSY_RETRY_AFTER.as_secs().to_string(),
        }));
    };
    if let Err(wait) = state.confirmations.take(&state.store, now).await? {
        return Ok(Err(too_many(wait)));
    }
    slot.send(Job::SignUp {
        email: email.clone(),
        prefs: prefs.clone(),
    });
    Ok(Ok(()))
}

/// Where the "check your inbox" page's language switch leads: the same message, without the
/// address (a `GET` must not carry it), rather than the form just sent.
pub const SENT_PATH: &str = "/subscriptions/sent";

/// The "check your inbox" page, the same for every address.
pub fn sent_page(page: &Page<'_>, email: &str) -> Response {
    let page = Page {
        state: page.state,
        locale: page.locale,
        path: SENT_PATH,
        token: None,
    };
    page.notice(
        StatusCode::OK,
        Notice {
            title: page.text("sent.title"),
            lines: vec![
                page.text("sent.body").replace("{email}", email),
                page.text("sent.hint"),
            ],
            ..Notice::default()
        },
    )
}

/// `GET /subscriptions/sent`: "check your inbox" in the language asked for.
pub async fn sent(State(state): State<PageState>, req: Request) -> Response {
    let query = Fields::from_query(req.uri().query());
    let format = input::answer_format(req.headers());
    let site = &state.config.site.language;
    let locale = query
        .one("locale")
        .and_then(|l| input::choose_locale(l, req.headers(), site));
    let page = Page {
        state: &state,
        locale: locale
            .clone()
            .unwrap_or_else(|_| fallback(&state, req.headers())),
        path: SENT_PATH,
        token: None,
    };
    if let Err(p) = locale {
        return page.problem(format, &p);
    }
    page.notice(
        StatusCode::OK,
        Notice {
            title: page.text("sent.title"),
            lines: vec![page.text("sent.generic_body"), page.text("sent.hint")],
            ..Notice::default()
        },
    )
}

/// The peer address the server recorded (`0.0.0.0` if none, e.g. in-process calls).
pub fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// 429 with the seconds to wait.
pub fn too_many(wait_secs: u64) -> Problem {
    Problem {
        status: StatusCode::TOO_MANY_REQUESTS,
        field: None,
        code: "too_many",
        value: wait_secs.to_string(),
    }
}

/// The page language when the request names none: Accept-Language, then the site's.
pub fn fallback(state: &PageState, headers: &HeaderMap) -> &'static str {
    input::choose_locale(None, headers, &state.config.site.language).unwrap_or("zh-CN")
}

fn render_form(
    page: &Page<'_>,
    catalog: &Catalog,
    email: &str,
    sections: Option<&[String]>,
    schedule: Option<&str>,
    problems: &[Problem],
    status: StatusCode,
) -> Response {
    let errors: std::collections::BTreeMap<String, String> = problems
        .iter()
        .rev()
        .map(|p| {
            (
                p.field.clone().unwrap_or_else(|| "form".into()),
                page.problem_text(p),
            )
        })
        .collect();
    let extra = context! {
        email => email,
        sections => ser(&catalog.section_choices(&page.state.templates, page.locale, sections)),
        schedules => ser(&catalog.schedule_choices(&page.state.templates, page.locale, schedule)),
        errors => if errors.is_empty() { Value::from(()) } else { ser(&errors) },
    };
    page.render(
        "pages/subscribe.html",
        &page.text("subscribe.title"),
        status,
        extra,
    )
}
