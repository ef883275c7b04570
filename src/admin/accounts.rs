//! `GET /admin/accounts` (admins): the people of the console, the API tokens and the latest
//! login attempts; `POST /admin/tokens` makes a token (shown once), `POST
//! /admin/tokens/{id}/revoke` revokes one. People are added, given another role or removed
//! by [`people`]; the page never lets the console lose its last admin.

pub mod people;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    page::{View, ser},
    secret,
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    domain::{Audit, AuditKind, Role},
    error::AppError,
};

/// Login attempts shown on the page.
const ATTEMPTS_SHOWN: u32 = 30;
/// Longest token name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// What every named token starts with (it tells a reader what the secret is for).
pub const TOKEN_PREFIX: &str = "tid_";

#[derive(Serialize)]
struct PersonRow {
    email: String,
    role: &'static str,
    last_login: Option<String>,
    waiting: bool,
}

#[derive(Serialize)]
struct TokenRow {
    id: i64,
    name: String,
    role: &'static str,
    created_by: String,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

#[derive(Serialize)]
struct AttemptRow {
    at: String,
    email: String,
    client: String,
    outcome: &'static str,
}

/// Fields of the new-token form.
#[derive(Debug, Default, Deserialize)]
pub struct NewToken {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// `GET /admin/accounts`.
pub async fn show(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(q): Query<people::Done>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let person = people::PersonForm {
        notice: q.notice(&view),
        ..Default::default()
    };
    page(&state, &s, StatusCode::OK, None, "", "editor", &person).await
}

/// The page; `error`, `name` and `role` are the token form's, `person` the people forms'.
pub(super) async fn page(
    state: &ConsoleState,
    s: &AdminSession,
    status: StatusCode,
    error: Option<String>,
    name: &str,
    role: &str,
    person: &people::PersonForm,
) -> Result<Response, AppError> {
    let view = View::new(state, &s.visit);
    let people: Vec<PersonRow> = state
        .store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| PersonRow {
            role: a.role.as_str(),
            last_login: a.last_login_at.map(|t| view.time(t)),
            waiting: !a.has_password,
            email: a.email,
        })
        .collect();
    let tokens: Vec<TokenRow> = state
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            role: t.role.as_str(),
            created: view.time(t.created_at),
            last_used: t.last_used_at.map(|u| view.time(u)),
            revoked: t.revoked_at.map(|u| view.time(u)),
            name: t.name,
            created_by: t.created_by,
        })
        .collect();
    let attempts: Vec<AttemptRow> = state
        .store
        .recent_login_attempts(ATTEMPTS_SHOWN)
        .await?
        .into_iter()
        .map(|a| AttemptRow {
            at: view.time(a.at),
            outcome: a.outcome.as_str(),
            email: a.email,
            client: a.client,
        })
        .collect();
    Ok(view.render(
        "admin/accounts.html",
        &view.text("accounts.title"),
        status,
        context! {
            people => ser(&people),
            tokens => ser(&tokens),
            attempts => ser(&attempts),
            roles => ser(&Role::NAMES),
            error => error,
            name => name,
            role => role,
            person => ser(person),
            admins => people.iter().filter(|p| p.role == "admin").count(),
        },
    ))
}

/// `POST /admin/tokens`: makes a named token and shows it, once.
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Form(f): Form<NewToken>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let name = f.name.trim();
    let problem = if name.is_empty() {
        Some("accounts.errors.name_empty")
    } else if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        Some("accounts.errors.name_bad")
    } else {
        None
    };
    let role = Role::parse(&f.role);
    if let Some(key) = problem.or(role.is_err().then_some("accounts.errors.role")) {
        let message = view.text(key).replace("{max}", &MAX_NAME_CHARS.to_string());
        return page(
            &state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message),
            name,
            &f.role,
            &people::PersonForm::default(),
        )
        .await;
    }
    let role = role.expect("checked above");
    let token = format!("{TOKEN_PREFIX}{}", secret::generate());
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::TokenCreate,
        &format!("token {name}"),
        Some(&s.visit.client),
    )
    .change(None, Some(format!("role {role}")));
    state
        .store
        .create_api_token(name, role, &secret::hash(&token), &audit, state.now_ms())
        .await?;
    tracing::info!(name, role = %role, "API token created");
    Ok(view.render(
        "admin/token_created.html",
        &view.text("token_created.title"),
        StatusCode::OK,
        context! { name => name, role => role.as_str(), token => token },
    ))
}

/// `POST /admin/tokens/{id}/revoke`.
#[tracing::instrument(skip_all)]
pub async fn revoke(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let Some(token) = state.store.get_api_token(id).await? else {
        let view = View::new(&state, &s.visit);
        return Ok(view.notice(
            StatusCode::NOT_FOUND,
            super::page::Notice::error(view.text("accounts.no_token"), Vec::new()).link(
                format!("{}/accounts", state.admin_path()),
                view.text("accounts.back"),
            ),
        ));
    };
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::TokenRevoke,
        &format!("token {}", token.name),
        Some(&s.visit.client),
    )
    .change(Some("active".into()), Some("revoked".into()));
    state
        .store
        .revoke_api_token(id, &audit, state.now_ms())
        .await?;
    Ok(Redirect::to(&format!("{}/accounts#tokens", state.admin_path())).into_response())
}
