//! Console pages: runs (admins). `GET /admin/runs` lists runs newest first (by schedule, a
//! page at a time); `GET /admin/runs/{id}` shows one run's figures (SPEC §7) with a progress
//! bar, kept live by `console.js` polling `GET /admin/runs/{id}/progress` while the run is
//! going (shown as "sending · planning…" while its deliveries are still being planned), and the
//! deliveries that did not simply go out (failed, bounced, uncertain, deferred) with the SMTP
//! server's last reply; `…/retry` puts the failed ones back in the queue after a confirmation.

#[path = "runs_retry.rs"]
mod retry;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use retry::{retry, retry_confirm};
use serde::{Deserialize, Serialize};

use super::{
    Route,
    page::{Notice, View, ser},
    schedules::{confirm, names},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    AppState,
    domain::{Audit, AuditKind, Delivery, Run, RunFigure},
    error::AppError,
};

/// Runs per page of the list.
const RUNS_PER_PAGE: u32 = 30;
/// Deliveries per page of a run's problem list.
const DELIVERIES_PER_PAGE: u32 = 50;
/// The figures whose deliveries a run's page lists, in this order.
const LISTED: [RunFigure; 4] = [
    RunFigure::Failed,
    RunFigure::Bounced,
    RunFigure::Uncertain,
    RunFigure::Deferred,
];

/// Routes of this page open to editors (and admins).
pub(super) fn editor_routes() -> Vec<Route> {
    Vec::new()
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/runs", list),
        Route::get("/admin/runs/{id}", show),
        Route::get("/admin/runs/{id}/progress", progress),
        Route::get("/admin/runs/{id}/retry", retry_confirm),
        Route::post("/admin/runs/{id}/retry", retry),
    ]
}

#[derive(Serialize)]
struct RunRow {
    id: i64,
    schedule: String,
    started: String,
    manual: bool,
    status: &'static str,
    /// Still planning its deliveries (its status is `running` meanwhile).
    planning: bool,
    sent: i64,
    failed: i64,
    bounced: i64,
    total: i64,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    before: String,
}

/// `GET /admin/runs?schedule=&before=`.
pub async fn list(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let schedule = q.schedule.trim();
    let before = q.before.trim().parse::<i64>().ok();
    let mut runs = state
        .store
        .list_runs(
            Some(schedule).filter(|s| !s.is_empty()),
            before,
            RUNS_PER_PAGE + 1,
        )
        .await?;
    let older = (runs.len() > RUNS_PER_PAGE as usize).then(|| {
        runs.truncate(RUNS_PER_PAGE as usize);
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !schedule.is_empty() {
            q.append_pair("schedule", schedule);
        }
        q.append_pair("before", &runs.last().map_or(0, |r| r.id).to_string());
        format!("{}/runs?{}", state.admin_path(), q.finish())
    });
    let newest = before.map(|_| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !schedule.is_empty() {
            q.append_pair("schedule", schedule);
        }
        format!("{}/runs?{}", state.admin_path(), q.finish())
    });
    let mut rows: Vec<RunRow> = Vec::with_capacity(runs.len());
    for r in runs {
        rows.push(RunRow {
            id: r.id,
            started: view.time(r.created_at),
            manual: r.fire_at.is_none(),
            status: r.status.as_str(),
            planning: r.planning,
            sent: r.sent,
            failed: r.failed,
            bounced: r.bounced,
            total: r.total,
            schedule: super::articles_announce::run_label(&state, &view, &r.schedule).await?,
        });
    }
    Ok(view.render(
        "admin/runs_list.html",
        &view.text("runs.title"),
        StatusCode::OK,
        context! {
            runs => ser(&rows),
            schedules => names(&state).await?,
            schedule => schedule,
            older => older,
            newest => newest,
        },
    ))
}

/// A run's figures as its page and the progress route give them.
#[derive(Serialize)]
struct Figures {
    id: i64,
    status: &'static str,
    status_label: String,
    /// Still planning its deliveries: `total` grows.
    planning: bool,
    finished: bool,
    finished_at: Option<String>,
    /// Deliveries with nothing left to do (the progress bar's value).
    done: i64,
    total: i64,
    sent: i64,
    skipped: i64,
    deferred: i64,
    failed: i64,
    bounced: i64,
    uncertain: i64,
    pending: i64,
}

fn figures(view: &View<'_>, r: &Run) -> Figures {
    Figures {
        id: r.id,
        status: r.status.as_str(),
        status_label: if r.planning {
            view.text("runs.statuses.planning")
        } else {
            view.text(&format!("runs.statuses.{}", r.status.as_str()))
        },
        planning: r.planning,
        finished: r.status.is_finished(),
        finished_at: r.finished_at.map(|t| view.time(t)),
        done: r.total - r.pending - r.deferred,
        total: r.total,
        sent: r.sent,
        skipped: r.skipped,
        deferred: r.deferred,
        failed: r.failed,
        bounced: r.bounced,
        uncertain: r.uncertain,
        pending: r.pending,
    }
}

fn parse_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

fn no_run(state: &ConsoleState, s: &AdminSession) -> Response {
    let view = View::new(state, &s.visit);
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(view.text("runs.not_found"), Vec::new()).link(
            format!("{}/runs", state.admin_path()),
            view.text("runs.back"),
        ),
    )
}

#[derive(Serialize)]
struct DeliveryRow {
    email: String,
    attempts: i64,
    reply: Option<String>,
    last_attempt: Option<String>,
    next_attempt: Option<String>,
}

#[derive(Serialize)]
struct Tab {
    figure: String,
    count: i64,
    url: String,
    current: bool,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    retried: String,
}

fn count_of(r: &Run, f: RunFigure) -> i64 {
    match f {
        RunFigure::Failed => r.failed,
        RunFigure::Bounced => r.bounced,
        RunFigure::Uncertain => r.uncertain,
        RunFigure::Deferred => r.deferred,
        RunFigure::Pending => r.pending,
        RunFigure::Sent => r.sent,
        RunFigure::Skipped => r.skipped,
    }
}

/// `GET /admin/runs/{id}?status=&after=`.
pub async fn show(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    let Some(run) = find(&state, &id).await? else {
        return Ok(no_run(&state, &s));
    };
    let view = View::new(&state, &s.visit);
    let admin = state.admin_path();
    let chosen = RunFigure::parse(q.status.trim())
        .ok()
        .filter(|f| LISTED.contains(f))
        .or_else(|| LISTED.into_iter().find(|f| count_of(&run, *f) > 0))
        .unwrap_or(RunFigure::Failed);
    let tabs: Vec<Tab> = LISTED
        .iter()
        .map(|f| Tab {
            figure: f.to_string(),
            count: count_of(&run, *f),
            url: format!("{admin}/runs/{}?status={f}#deliveries", run.id),
            current: *f == chosen,
        })
        .collect();
    let after = q.after.trim().parse::<i64>().unwrap_or(0);
    let mut items: Vec<Delivery> = state
        .store
        .run_deliveries(run.id, Some(chosen), after, DELIVERIES_PER_PAGE + 1)
        .await?;
    let more = (items.len() > DELIVERIES_PER_PAGE as usize).then(|| {
        items.truncate(DELIVERIES_PER_PAGE as usize);
        format!(
            "{admin}/runs/{}?status={chosen}&after={}#deliveries",
            run.id,
            items.last().map_or(0, |d| d.id)
        )
    });
    let first_page =
        (after > 0).then(|| format!("{admin}/runs/{}?status={chosen}#deliveries", run.id));
    let deliveries: Vec<DeliveryRow> = items
        .into_iter()
        .map(|d| DeliveryRow {
            email: d.email.unwrap_or_else(|| view.text("runs.erased")),
            attempts: d.attempts,
            reply: d.last_reply,
            last_attempt: d.last_attempt_at.map(|t| view.time(t)),
            next_attempt: d.next_attempt_at.map(|t| view.time(t)),
        })
        .collect();
    let fig = figures(&view, &run);
    let mut resp = view.render(
        "admin/runs_show.html",
        &view.text("runs.run_title").replace("{id}", &run.id.to_string()),
        StatusCode::OK,
        context! {
            run => ser(&fig),
            schedule => super::articles_announce::run_label(&state, &view, &run.schedule).await?,
            started => view.time(run.created_at),
            fire_at => run.fire_at.map(|t| view.time(t)),
            figure_names => ["sent", "skipped", "deferred", "failed", "bounced", "uncertain", "pending"],
            tabs => ser(&tabs),
            chosen => chosen.to_string(),
            deliveries => ser(&deliveries),
            more => more,
            first_page => first_page,
            retried => q.retried.trim().parse::<i64>().ok(),
            progress_url => format!("{admin}/runs/{}/progress", run.id),
            script_url => format!("{admin}/assets/console.js?v={}", env!("CARGO_PKG_VERSION")),
        },
    );
    // This page alone runs the console's script (live figures), from this site only.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    Ok(resp)
}

/// `GET /admin/runs/{id}/progress`: the run's figures as JSON, for the page's script.
pub async fn progress(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Some(run) = find(&state, &id).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no run"})),
        )
            .into_response());
    };
    let view = View::new(&state, &s.visit);
    let mut resp = Json(figures(&view, &run)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The run a path's `{id}` names, if it is a number and such a run exists.
async fn find(state: &ConsoleState, id: &str) -> Result<Option<Run>, AppError> {
    match parse_id(id) {
        Some(id) => Ok(state.store.get_run(id).await?),
        None => Ok(None),
    }
}
