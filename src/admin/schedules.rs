//! Console pages: schedules (admins). `GET /admin/schedules` lists each schedule with its
//! reading in the page's language and its next fire instants (in its zone and in UTC, the days
//! whose UTC offset changed marked); a form creates and edits one (validated as the API's
//! PUT is, taking effect at once); buttons enable, disable and delete (after a confirmation);
//! "run now" asks first, then starts a run and goes to its page. Previews and test sends,
//! open to editors too, live in [`preview`].

#[path = "schedules_preview.rs"]
mod preview;

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
    digests::{describe::describe, fire::next_instants},
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
    enabled: bool,
    send_when_empty: bool,
    max_articles: i64,
    next: Vec<Instant>,
}

/// The reading and next instants of `s` at `now` in `locale`, by the functions the API uses.
fn row(s: Schedule, locale: &str, now: DateTime<Utc>) -> ScheduleRow {
    let (description, next) = match (CronSpec::parse(&s.cron), TimeZone::parse(&s.timezone)) {
        (Ok(cron), Ok(tz)) => (
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
        slug: s.slug,
        name: s.name,
        timezone: s.timezone,
        cron: s.cron,
        enabled: s.enabled,
        send_when_empty: s.send_when_empty,
        max_articles: s.max_articles,
    }
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
    let rows: Vec<ScheduleRow> = state
        .store
        .list_schedules()
        .await?
        .into_iter()
        .map(|sch| row(sch, s.visit.locale, now))
        .collect();
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

/// What the schedule form holds, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ScheduleForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    cron: String,
    #[serde(default)]
    timezone: String,
    /// Checkboxes: present ("on") when ticked.
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    send_when_empty: Option<String>,
    #[serde(default)]
    max_articles: String,
}

impl ScheduleForm {
    fn of(s: &Schedule) -> Self {
        Self {
            slug: s.slug.clone(),
            name: s.name.clone(),
            cron: s.cron.clone(),
            timezone: s.timezone.clone(),
            enabled: s.enabled.then(|| "on".into()),
            send_when_empty: s.send_when_empty.then(|| "on".into()),
            max_articles: s.max_articles.to_string(),
        }
    }

    /// The fields to store, or an error message per field (in `view`'s language).
    fn validate(
        &self,
        view: &View<'_>,
        default_tz: &str,
    ) -> Result<ScheduleFields, HashMap<&'static str, String>> {
        let mut errors = HashMap::new();
        let max_articles = match self.max_articles.trim() {
            "" => None,
            n => match n.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.insert("max_articles", view.text("schedules.errors.max_articles"));
                    None
                }
            },
        };
        let input = ScheduleInput {
            name: Some(self.name.clone()),
            cron: Some(self.cron.trim().to_owned()).filter(|c| !c.is_empty()),
            timezone: Some(self.timezone.trim().to_owned()).filter(|t| !t.is_empty()),
            enabled: Some(self.enabled.is_some()),
            send_when_empty: Some(self.send_when_empty.is_some()),
            max_articles,
        };
        match input.validate(default_tz) {
            Ok(fields) if errors.is_empty() => Ok(fields),
            Ok(_) => Err(errors),
            Err(AppError::Invalid { message, field }) => {
                let field = match field.as_deref() {
                    Some("name") => "name",
                    Some("cron") => "cron",
                    Some("timezone") => "timezone",
                    _ => "max_articles",
                };
                let lead = view.text(&format!("schedules.errors.{field}"));
                // Cron and zone errors carry the parser's detail (in English).
                let text = lead.replace("{detail}", &message);
                errors.entry(field).or_insert(text);
                Err(errors)
            }
            Err(e) => {
                errors.insert("name", e.to_string());
                Err(errors)
            }
        }
    }
}

/// Renders the form: `slug` is `None` when creating.
fn form_page(
    state: &ConsoleState,
    s: &AdminSession,
    status: StatusCode,
    editing: Option<&str>,
    form: &ScheduleForm,
    errors: &HashMap<&'static str, String>,
) -> Response {
    let view = View::new(state, &s.visit);
    let title = match editing {
        Some(_) => view.text("schedules.edit_title"),
        None => view.text("schedules.new_title"),
    };
    let action = match editing {
        Some(slug) => format!("{}/schedules/{slug}", state.admin_path()),
        None => format!("{}/schedules", state.admin_path()),
    };
    view.render(
        "admin/schedules_form.html",
        &title,
        status,
        context! {
            editing => editing,
            action => action,
            form => ser(form),
            errors => ser(errors),
            zones => ser(&ZONES),
            site_timezone => &state.config.site.timezone,
        },
    )
}

/// `GET /admin/schedules/new`.
pub async fn new_form(State(state): State<ConsoleState>, s: AdminSession) -> Response {
    let form = ScheduleForm {
        timezone: state.config.site.timezone.clone(),
        enabled: Some("on".into()),
        max_articles: "20".into(),
        cron: "0 8 * * *".into(),
        ..ScheduleForm::default()
    };
    form_page(&state, &s, StatusCode::OK, None, &form, &HashMap::new())
}

/// `GET /admin/schedules/{slug}/edit`.
pub async fn edit_form(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let Some(sch) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    Ok(form_page(
        &state,
        &s,
        StatusCode::OK,
        Some(&sch.slug),
        &ScheduleForm::of(&sch),
        &HashMap::new(),
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
    format!(
        "name {:?}, cron {:?}, timezone {}, {}, send_when_empty {}, max_articles {}",
        f.name,
        f.cron,
        f.timezone,
        if f.enabled { "enabled" } else { "disabled" },
        f.send_when_empty,
        f.max_articles
    )
}

fn fields_of(s: &Schedule) -> ScheduleFields {
    ScheduleFields {
        name: s.name.clone(),
        cron: s.cron.clone(),
        timezone: s.timezone.clone(),
        enabled: s.enabled,
        send_when_empty: s.send_when_empty,
        max_articles: s.max_articles,
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

/// `POST /admin/schedules`: creates a schedule (its slug must be new).
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let slug = form.slug.trim().to_owned();
    let mut slug_error = None;
    match SectionSlug::parse(&slug) {
        Err(_) => slug_error = Some(view.text("schedules.errors.slug")),
        Ok(_) if state.store.get_schedule(&slug).await?.is_some() => {
            slug_error = Some(view.text("schedules.errors.slug_taken"))
        }
        Ok(_) => {}
    }
    let checked = form.validate(&view, &state.config.site.timezone);
    let fields = match (checked, slug_error) {
        (Ok(fields), None) => fields,
        (checked, slug_error) => {
            let mut errors = checked.err().unwrap_or_default();
            if let Some(e) = slug_error {
                errors.insert("slug", e);
            }
            return Ok(form_page(
                &state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                &form,
                &errors,
            ));
        }
    };
    let now = state.now_ms();
    state.store.put_schedule(&slug, &fields, now).await?;
    let entry = audit(&s, AuditKind::ScheduleCreate, &slug).change(None, Some(summary(&fields)));
    state.store.record_audit(&entry, now).await?;
    tracing::info!(slug, "schedule created in the console");
    Ok(done(&state, "created", &slug))
}

/// `POST /admin/schedules/{slug}`: replaces a schedule's fields; takes effect at once.
#[tracing::instrument(skip_all)]
pub async fn update(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, AppError> {
    let Some(before) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    let view = View::new(&state, &s.visit);
    let fields = match form.validate(&view, &state.config.site.timezone) {
        Ok(f) => f,
        Err(errors) => {
            return Ok(form_page(
                &state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&before.slug),
                &form,
                &errors,
            ));
        }
    };
    save(&state, &s, &before, fields).await?;
    Ok(done(&state, "saved", &slug))
}

/// Stores `fields` for `before`'s slug and records the change.
async fn save(
    state: &ConsoleState,
    s: &AdminSession,
    before: &Schedule,
    fields: ScheduleFields,
) -> Result<(), AppError> {
    let now = state.now_ms();
    state.store.put_schedule(&before.slug, &fields, now).await?;
    let entry = audit(s, AuditKind::ScheduleUpdate, &before.slug)
        .change(Some(summary(&fields_of(before))), Some(summary(&fields)));
    state.store.record_audit(&entry, now).await?;
    tracing::info!(slug = before.slug, "schedule changed in the console");
    Ok(())
}

async fn set_enabled(
    state: ConsoleState,
    s: AdminSession,
    slug: String,
    enabled: bool,
) -> Result<Response, AppError> {
    let Some(before) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    if before.enabled != enabled {
        let fields = ScheduleFields {
            enabled,
            ..fields_of(&before)
        };
        save(&state, &s, &before, fields).await?;
    }
    Ok(done(
        &state,
        if enabled { "enabled" } else { "disabled" },
        &slug,
    ))
}

/// `POST /admin/schedules/{slug}/enable`.
pub async fn enable(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    set_enabled(state, s, slug, true).await
}

/// `POST /admin/schedules/{slug}/disable`.
pub async fn disable(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    set_enabled(state, s, slug, false).await
}

/// A confirmation page: `lines` to read, a form posting to `action`.
pub(super) fn confirm(
    view: &View<'_>,
    title: &str,
    lines: Vec<String>,
    action: String,
    button: String,
    back: String,
    danger: bool,
) -> Response {
    view.render(
        "admin/schedules_confirm.html",
        title,
        StatusCode::OK,
        context! {
            lines => lines,
            action => action,
            button => button,
            back => back,
            danger => danger,
        },
    )
}

/// `GET /admin/schedules/{slug}/delete`: asks first.
pub async fn delete_confirm(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let Some(sch) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    let view = View::new(&state, &s.visit);
    let n = state.store.count_active_of_schedule(&slug).await?;
    let admin = state.admin_path();
    Ok(confirm(
        &view,
        &view
            .text("schedules.delete_title")
            .replace("{name}", &sch.name),
        vec![
            view.text("schedules.delete_body")
                .replace("{name}", &sch.name)
                .replace("{n}", &n.to_string()),
        ],
        format!("{admin}/schedules/{slug}/delete"),
        view.text("schedules.delete"),
        format!("{admin}/schedules"),
        true,
    ))
}

/// `POST /admin/schedules/{slug}/delete`.
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let Some(before) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    let now = state.now_ms();
    if state.store.delete_schedule(&slug, now).await? {
        let entry = audit(&s, AuditKind::ScheduleDelete, &slug)
            .change(Some(summary(&fields_of(&before))), None);
        state.store.record_audit(&entry, now).await?;
        tracing::info!(slug, "schedule deleted in the console");
    }
    Ok(done(&state, "deleted", &slug))
}

/// `GET /admin/schedules/{slug}/run`: how many a run now would mail, and a button.
pub async fn run_confirm(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let Some(sch) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    let view = View::new(&state, &s.visit);
    let n = state.store.count_active_of_schedule(&slug).await?;
    let mut lines = vec![
        view.text("schedules.run_body")
            .replace("{name}", &sch.name)
            .replace("{n}", &n.to_string()),
        view.text("schedules.run_hint"),
    ];
    if !sch.enabled {
        lines.push(view.text("schedules.run_disabled"));
    }
    let admin = state.admin_path();
    Ok(confirm(
        &view,
        &view
            .text("schedules.run_title")
            .replace("{name}", &sch.name),
        lines,
        format!("{admin}/schedules/{slug}/run"),
        view.text("schedules.run_button"),
        format!("{admin}/schedules"),
        false,
    ))
}

/// `POST /admin/schedules/{slug}/run`: starts a run now (as the API's run does) and shows it.
#[tracing::instrument(skip_all)]
pub async fn run_now(
    State(app): State<AppState>,
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    if state.store.get_schedule(&slug).await?.is_none() {
        return Ok(not_found(&state, &s));
    }
    let id = app.digests.run_now(&slug).await?;
    let entry = audit(&s, AuditKind::ScheduleRunNow, &slug).change(None, Some(format!("run {id}")));
    state.store.record_audit(&entry, state.now_ms()).await?;
    tracing::info!(slug, run = id, "run started in the console");
    Ok(Redirect::to(&format!("{}/runs/{id}", state.admin_path())).into_response())
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
