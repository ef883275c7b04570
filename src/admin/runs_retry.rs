//! "Retry failed deliveries": a confirmation page, then the failed deliveries of the run go
//! back in the queue.

use super::*;

/// `GET /admin/runs/{id}/retry`: asks first.
pub async fn retry_confirm(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Some(run) = find(&state, &id).await? else {
        return Ok(no_run(&state, &s));
    };
    let view = View::new(&state, &s.visit);
    let admin = state.admin_path();
    Ok(confirm(
        &view,
        &view
            .text("runs.retry_title")
            .replace("{id}", &run.id.to_string()),
        vec![
            view.text("runs.retry_body")
                .replace("{n}", &run.failed.to_string()),
            view.text("runs.retry_hint"),
        ],
        format!("{admin}/runs/{}/retry", run.id),
        view.text("runs.retry_button"),
        format!("{admin}/runs/{}", run.id),
        false,
    ))
}

/// `POST /admin/runs/{id}/retry`: the failed deliveries go back in the queue; the worker
/// sends them as any other (its fencing holds: nothing already sent goes out again).
#[tracing::instrument(skip_all)]
pub async fn retry(
    State(app): State<AppState>,
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Some(run) = find(&state, &id).await? else {
        return Ok(no_run(&state, &s));
    };
    let entry = Audit::new(
        &s.me.account.email,
        AuditKind::RunRetry,
        &format!("run {} of {}", run.id, run.schedule),
        Some(&s.visit.client),
    )
    .change(
        Some(format!("{} failed", run.failed)),
        Some("pending again".into()),
    );
    let n = state
        .store
        .retry_failed_deliveries(run.id, &entry, state.now_ms())
        .await?;
    if n > 0 {
        app.digests.wakeup.notify_waiters();
        tracing::info!(run = run.id, n, "failed deliveries retried");
    }
    Ok(Redirect::to(&format!(
        "{}/runs/{}?retried={n}",
        state.admin_path(),
        run.id
    ))
    .into_response())
}
