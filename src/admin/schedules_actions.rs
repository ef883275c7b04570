//! Schedule actions: enable and disable, delete (after a confirmation) and run now (after a
//! confirmation that says how many it mails); and the confirmation page they share.

use super::*;

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
pub(in crate::admin) fn confirm(
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
