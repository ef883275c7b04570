//! `GET /admin/password?token=…` shows the form to set a password (and changes nothing);
//! `POST /admin/password` sets it. The token is the one-time link printed by
//! `tidings admin add|reset`, valid 24 hours; using it ends the person's other sessions.

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::Deserialize;

use super::{
    page::{Notice, View},
    password, secret,
    session::Visit,
    state::ConsoleState,
};
use crate::{
    domain::{Account, Audit, AuditKind},
    error::AppError,
};

/// How long a set-password link works.
pub const LINK_TTL_MS: i64 = 24 * 3_600_000;

/// The link's query.
#[derive(Debug, Default, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// The form's fields (its CSRF token is checked by the guard).
#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

async fn holder(state: &ConsoleState, token: &str) -> Result<Option<Account>, AppError> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    Ok(state
        .store
        .account_for_setup(&secret::hash(token), state.now_ms())
        .await?)
}

fn dead_link(view: &View<'_>) -> Response {
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(
            view.text("password.dead_title"),
            vec![view.text("password.dead_body")],
        ),
    )
}

fn form(
    view: &View<'_>,
    status: StatusCode,
    account: &Account,
    token: &str,
    error: Option<String>,
) -> Response {
    view.render(
        "admin/password.html",
        &view.text("password.title"),
        status,
        context! {
            email => &account.email,
            token => token,
            error => error,
            min_chars => password::MIN_CHARS.to_string(),
        },
    )
}

/// `GET /admin/password?token=…`.
pub async fn show(
    State(state): State<ConsoleState>,
    visit: Visit,
    Query(q): Query<LinkQuery>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &visit);
    Ok(match holder(&state, &q.token).await? {
        Some(account) => form(&view, StatusCode::OK, &account, &q.token, None),
        None => dead_link(&view),
    })
}

/// `POST /admin/password`.
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<ConsoleState>,
    visit: Visit,
    Form(f): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &visit);
    let Some(account) = holder(&state, &f.token).await? else {
        return Ok(dead_link(&view));
    };
    if let Err(weak) = password::check(&f.password, &f.repeat, &account.email) {
        let message = view
            .text(&format!("password.errors.{}", weak.code()))
            .replace("{min}", &password::MIN_CHARS.to_string());
        return Ok(form(
            &view,
            StatusCode::UNPROCESSABLE_ENTITY,
            &account,
            &f.token,
            Some(message),
        ));
    }
    let phc = {
        let _permit = state.hashing.acquire().await.ok();
        let pw = f.password;
        tokio::task::spawn_blocking(move || password::hash(&pw))
            .await
            .map_err(|e| AppError::Internal(e.into()))??
    };
    let audit = Audit::new(
        &account.email,
        AuditKind::PasswordSet,
        &account.email,
        Some(&visit.client),
    );
    if !state
        .store
        .set_password(&secret::hash(&f.token), &phc, &audit, state.now_ms())
        .await?
    {
        return Ok(dead_link(&view));
    }
    tracing::info!(account = account.id, "console password set");
    Ok(Redirect::to(&format!("{}/login?done=password", state.admin_path())).into_response())
}
