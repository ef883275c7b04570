//! Console pages: schedules (admins). `GET /admin/schedules` lists each schedule with its
//! reading in the page's language and its next fire instants (in its zone and in UTC, the days
//! whose UTC offset changed marked; an instant schedule's pending one); a form creates and
//! edits one, digest or instant, with its names per language (validated as the API's PUT is,
//! taking effect at once); buttons enable, disable and delete (after a confirmation);
//! "run now" asks first, then starts a run and goes to its page (those actions are in
//! [`actions`]). Previews and test sends, open to editors too, live in [`preview`].

#[path = "schedules_actions.rs"]
mod actions;
#[path = "schedules_form.rs"]
mod form;
#[path = "schedules_preview.rs"]
mod preview;

pub(super) use actions::confirm;
use actions::{delete, delete_confirm, disable, enable, run_confirm, run_now};
use form::{create, edit_form, new_form, save, update};

use std::collections::HashMap;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Duration, Offset, TimeZone as _, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    Route,
    page::{Notice, View, ser},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    AppState,
    api::schedules::ScheduleInput,
    digests::{
        describe::{describe, describe_window, window_span},
        fire::next_instants,
        instant::pending_fire,
    },
    domain::{Audit, AuditKind, CronSpec, Schedule, ScheduleFields, SectionSlug, TimeZone},
    error::AppError,
};

/// Fire instants listed per schedule (as many as the API's `next_fire_at`).
pub(super) const NEXT_FIRES: usize = 5;

/// Zones offered in the form's suggestions (any IANA name is accepted).
const ZONES: &[&str] = &[
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Tokyo",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
];

/// Routes of this page open to editors (and admins): previews and test sends.
pub(super) fn editor_routes() -> Vec<Route> {
    preview::routes()
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/schedules", list),
        Route::post("/admin/schedules", create),
        Route::get("/admin/schedules/new", new_form),
        Route::get("/admin/schedules/{slug}/edit", edit_form),
        Route::post("/admin/schedules/{slug}", update),
        Route::post("/admin/schedules/{slug}/enable", enable),
        Route::post("/admin/schedules/{slug}/disable", disable),
        Route::get("/admin/schedules/{slug}/delete", delete_confirm),
        Route::post("/admin/schedules/{slug}/delete", delete),
        Route::get("/admin/schedules/{slug}/run", run_confirm),
        Route::post("/admin/schedules/{slug}/run", run_now),
    ]
}

/// One upcoming fire instant as the list shows it.
#[derive(Serialize)]
struct Instant {
    /// On the schedule's wall clock, with its UTC offset.
    local: String,
    offset: String,
    utc: String,
    /// The day's UTC offset differs from the day before's (a DST change).
    dst_change: bool,
}

#[derive(Serialize)]
struct ScheduleRow {
    slug: String,
    name: String,
    description: String,
    timezone: String,
    cron: String,
    /// `"digest"` or `"instant"`.
    kind: &'static str,
    /// An instant schedule's window in words ("10 分钟").
    window: Option<String>,
    /// Its names in other languages than the site's, as (locale, name).
    other_names: Vec<(String, String)>,
    enabled: bool,
    send_when_empty: bool,
    max_articles: i64,
    first_digest_articles: i64,
    /// A digest's next fire instants; an instant schedule's pending one, if any.
    next: Vec<Instant>,
}

/// The reading and next instants of `s` at `now` in `locale`, by the functions the API uses;
/// `pending` is an instant schedule's next fire instant.
fn row(
    s: Schedule,
    locale: &str,
    now: DateTime<Utc>,
    pending: Option<DateTime<Utc>>,
) -> ScheduleRow {
    let tz = TimeZone::parse(&s.timezone).ok();
    let (description, next) = match (s.window(), CronSpec::parse(&s.cron), tz) {
        (Some(w), _, tz) => (
            describe_window(w, locale),
            (pending.into_iter())
                .map(|t| instant(t, tz.map_or(chrono_tz::UTC, |z| z.0)))
                .collect(),
        ),
        (None, Ok(cron), Some(tz)) => (
            describe(&cron, tz.name(), locale),
            next_instants(&cron, tz.0, now, NEXT_FIRES)
                .into_iter()
                .map(|t| instant(t, tz.0))
                .collect(),
        ),
        _ => (format!("cron {} ({})", s.cron, s.timezone), Vec::new()),
    };
    ScheduleRow {
        description,
        next,
        kind: s.kind.as_str(),
        window: s.window().map(|w| window_span(w, locale)),
        other_names: Vec::new(),
        slug: s.slug,
        name: s.name,
        timezone: s.timezone,
        cron: s.cron,
        enabled: s.enabled,
        send_when_empty: s.send_when_empty,
        max_articles: s.max_articles,
        first_digest_articles: s.first_digest_articles,
    }
}

/// The rows of `schedules` at `now` in `locale`, instant ones with their pending instant.
async fn rows(
    state: &ConsoleState,
    schedules: Vec<Schedule>,
    locale: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ScheduleRow>, AppError> {
    let mut texts = state.store.schedule_texts().await?;
    let mut out = Vec::with_capacity(schedules.len());
    for sch in schedules {
        let pending = pending_fire(&state.store, &sch, crate::clock::to_ms(now)).await?;
        let names = texts.remove(&sch.slug).unwrap_or_default();
        let mut r = row(sch, locale, now, pending);
        r.other_names = names.into_iter().collect();
        out.push(r);
    }
    Ok(out)
}

/// `t` in `tz`, marked when `tz`'s UTC offset a day earlier was different.
fn instant(t: DateTime<Utc>, tz: chrono_tz::Tz) -> Instant {
    let offset_at = |at: DateTime<Utc>| {
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc()
    };
    let local = t.with_timezone(&tz);
    Instant {
        local: local.format("%Y-%m-%d %H:%M").to_string(),
        offset: local.format("UTC%:z").to_string(),
        utc: t.format("%Y-%m-%d %H:%M").to_string(),
        dst_change: offset_at(t) != offset_at(t - Duration::days(1)),
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    done: String,
    #[serde(default)]
    slug: String,
}

/// `GET /admin/schedules`.
pub async fn list(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let now = state.clock.now();
    let schedules = state.store.list_schedules().await?;
    let rows = rows(&state, schedules, s.visit.locale, now).await?;
    let done = match q.done.as_str() {
        k @ ("created" | "saved" | "enabled" | "disabled" | "deleted") => Some(
            view.text(&format!("schedules.done.{k}"))
                .replace("{slug}", &q.slug),
        ),
        _ => None,
    };
    Ok(view.render(
        "admin/schedules_list.html",
        &view.text("schedules.title"),
        StatusCode::OK,
        context! {
            schedules => ser(&rows),
            now => view.time(now),
            done => done,
        },
    ))
}

/// The "no such schedule" page.
pub(super) fn not_found(state: &ConsoleState, visit: &AdminSession) -> Response {
    not_found_in(state, &visit.visit)
}

pub(super) fn not_found_in(state: &ConsoleState, visit: &super::visit::Visit) -> Response {
    let view = View::new(state, visit);
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(view.text("schedules.not_found"), Vec::new()).link(
            format!("{}/schedules", state.admin_path()),
            view.text("schedules.back"),
        ),
    )
}

/// A one-line summary of a schedule's fields for the audit log.
fn summary(f: &ScheduleFields) -> String {
    let when = match &f.window {
        Some(w) => format!("instant, window {}", w.as_text()),
        None => format!("cron {:?}", f.cron),
    };
    let names = match &f.names {
        Some(n) => format!(", names {n:?}"),
        None => String::new(),
    };
    format!(
        "name {:?}{names}, {when}, timezone {}, {}, send_when_empty {}, max_articles {}, \
         first_digest_articles {}",
        f.name,
        f.timezone,
        if f.enabled { "enabled" } else { "disabled" },
        f.send_when_empty,
        f.max_articles,
        f.first_digest_articles
    )
}

/// The stored fields of `s`; its names in other locales are kept as they are.
fn fields_of(s: &Schedule) -> ScheduleFields {
    ScheduleFields {
        name: s.name.clone(),
        cron: s.cron.clone(),
        timezone: s.timezone.clone(),
        enabled: s.enabled,
        send_when_empty: s.send_when_empty,
        max_articles: s.max_articles,
        kind: s.kind,
        window: s.window(),
        first_digest_articles: s.first_digest_articles,
        names: None,
    }
}

fn audit(s: &AdminSession, kind: AuditKind, slug: &str) -> Audit {
    Audit::new(
        &s.me.account.email,
        kind,
        &format!("schedule {slug}"),
        Some(&s.visit.client),
    )
}

fn done(state: &ConsoleState, what: &str, slug: &str) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("done", what).append_pair("slug", slug);
    Redirect::to(&format!("{}/schedules?{}", state.admin_path(), q.finish())).into_response()
}

/// Schedules for a select or a list: `(slug, name)`.
pub(super) async fn names(state: &ConsoleState) -> Result<Vec<(String, String)>, AppError> {
    Ok(state
        .store
        .list_schedules()
        .await?
        .into_iter()
        .map(|s| (s.slug, s.name))
        .collect())
}
