//! `GET /admin/sources` (editors and admins): the health of every configured article source
//! (kind, target, last success, last error, items seen; failing ones in red);
//! `POST /admin/sources/check` wakes one web or feed source's poll loop in this process so it
//! polls at once ("check now"), and comes back with a notice.

use axum::{
    Form,
    extract::{FromRef, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    Route,
    page::{View, ser},
    session::EditorSession,
    state::ConsoleState,
};
use crate::{
    AppState,
    articles::sources::Checks,
    domain::{Audit, AuditKind, SourceType},
    error::AppError,
};

/// Routes of this page open to editors (and admins).
pub(super) fn editor_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/sources", show),
        Route::post("/admin/sources/check", check),
    ]
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    Vec::new()
}

/// What the page's handlers use: the console's state and the sources' wake-ups.
#[derive(Clone)]
pub struct SourcesState {
    console: ConsoleState,
    checks: Checks,
}

impl FromRef<AppState> for SourcesState {
    fn from_ref(app: &AppState) -> Self {
        Self {
            console: ConsoleState::from_app(app),
            checks: app.source_checks.clone(),
        }
    }
}

#[derive(Serialize)]
struct SourceRow {
    name: String,
    kind: &'static str,
    section: Option<String>,
    target: String,
    status: &'static str,
    last_success: Option<String>,
    last_error_at: Option<String>,
    last_error: Option<String>,
    items_found: i64,
    consecutive_errors: i64,
    /// Web and feed sources poll; a directory is watched live.
    checkable: bool,
}

/// The page's query: which source was just asked to check.
#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    #[serde(default)]
    checked: Option<String>,
    #[serde(default)]
    live: Option<String>,
}

/// The check form.
#[derive(Debug, Default, Deserialize)]
pub struct CheckForm {
    #[serde(default)]
    name: String,
}

fn local(view: &View<'_>, rfc3339: Option<String>) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(&rfc3339?).ok()?;
    Some(view.time(t.with_timezone(&chrono::Utc)))
}

/// `GET /admin/sources`.
pub async fn show(
    State(state): State<SourcesState>,
    s: EditorSession,
    Query(q): Query<Shown>,
) -> Result<Response, AppError> {
    let state = &state.console;
    let view = View::new(state, &s.visit);
    let rows: Vec<SourceRow> = crate::api::sources::health(&state.config, &state.store)
        .await?
        .into_iter()
        .map(|h| SourceRow {
            kind: h.kind.as_str(),
            checkable: h.kind != SourceType::Directory,
            status: h.status,
            last_success: local(&view, h.last_success_at),
            last_error_at: local(&view, h.last_error_at),
            last_error: h.last_error,
            items_found: h.items_found,
            consecutive_errors: h.consecutive_errors,
            name: h.name,
            section: h.section,
            target: h.target,
        })
        .collect();
    let failing = rows.iter().filter(|r| r.status == "error").count();
    let notice = match (&q.checked, &q.live) {
        (Some(name), _) => Some(view.text("sources.checking").replace("{name}", name)),
        (None, Some(name)) => Some(view.text("sources.live").replace("{name}", name)),
        _ => None,
    };
    Ok(view.render(
        "admin/sources.html",
        &view.text("sources.title"),
        StatusCode::OK,
        context! { sources => ser(&rows), failing => failing, notice => notice },
    ))
}

/// `POST /admin/sources/check`.
#[tracing::instrument(skip_all)]
pub async fn check(
    State(state): State<SourcesState>,
    s: EditorSession,
    Form(f): Form<CheckForm>,
) -> Result<Response, AppError> {
    let console = &state.console;
    let known = console.config.sources.iter().find(|c| c.name() == f.name);
    let Some(source) = known else {
        let view = View::new(console, &s.visit);
        return Ok(view.notice(
            StatusCode::NOT_FOUND,
            super::page::Notice::error(view.text("sources.unknown"), Vec::new()).link(
                format!("{}/sources", console.admin_path()),
                view.text("sources.back"),
            ),
        ));
    };
    let asked = if source.kind() == SourceType::Directory || !state.checks.request(&f.name) {
        // A directory is watched live: every change is read at once already.
        "live"
    } else {
        let audit = Audit::new(
            &s.me.account.email,
            AuditKind::SourceCheck,
            &format!("source {}", f.name),
            Some(&s.visit.client),
        );
        console.store.record_audit(&audit, console.now_ms()).await?;
        tracing::info!(source = %f.name, "source check asked for");
        "checked"
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(asked, &f.name)
        .finish();
    Ok(Redirect::to(&format!("{}/sources?{query}#sources", console.admin_path())).into_response())
}
