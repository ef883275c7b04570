//! The people of the console, managed on the accounts page (admins): `POST /admin/people`
//! adds one and shows their one-time set-password link (the link `tidings admin add` prints,
//! made by the same code); `POST /admin/people/role` gives someone another role; `POST
//! /admin/people/remove` removes someone (their sessions end). Neither of the last two may
//! leave the console without an admin.

use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    super::{
        cli::{self, AddRefused},
        page::View,
        session::AdminSession,
        state::ConsoleState,
    },
    page,
};
use crate::{
    domain::{Audit, AuditKind, Role},
    error::AppError,
    store::PersonChange,
};

/// What the people part of the page shows besides the list: a notice, or an error with
/// what was typed.
#[derive(Debug, Default, Serialize)]
pub struct PersonForm {
    pub notice: Option<String>,
    pub error: Option<String>,
    pub email: String,
    pub role: String,
}

/// The page's query after a change: `?done=role|removed&who=…`.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    who: Option<String>,
}

impl Done {
    /// The notice to show, if a change was just made.
    pub fn notice(&self, view: &View<'_>) -> Option<String> {
        let key = match self.done.as_deref()? {
            "role" => "people.role_changed",
            "removed" => "people.removed",
            _ => return None,
        };
        Some(
            view.text(key)
                .replace("{email}", self.who.as_deref().unwrap_or("")),
        )
    }
}

/// Fields of the people forms.
#[derive(Debug, Default, Deserialize)]
pub struct PersonFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn refuse(
    state: &ConsoleState,
    s: &AdminSession,
    status: StatusCode,
    key: &str,
    f: &PersonFields,
) -> Result<Response, AppError> {
    let view = View::new(state, &s.visit);
    let form = PersonForm {
        error: Some(view.text(key).replace("{email}", f.email.trim())),
        email: f.email.trim().to_owned(),
        role: f.role.clone(),
        notice: None,
    };
    page(state, s, status, None, "", "editor", &form).await
}

/// `POST /admin/people`: adds a person and shows their link, once.
#[tracing::instrument(skip_all)]
pub async fn add(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Form(f): Form<PersonFields>,
) -> Result<Response, AppError> {
    let Ok(role) = Role::parse(&f.role) else {
        return refuse(
            &state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "people.errors.role",
            &f,
        )
        .await;
    };
    let added = cli::add_account(
        &state.store,
        &state.config,
        f.email.trim(),
        role,
        state.clock.now(),
        &s.me.account.email,
        Some(&s.visit.client),
    )
    .await?;
    let link = match added {
        Ok(link) => link,
        Err(AddRefused::Invalid(_)) => {
            return refuse(
                &state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                "people.errors.email",
                &f,
            )
            .await;
        }
        Err(AddRefused::Exists(_)) => {
            return refuse(&state, &s, StatusCode::CONFLICT, "people.errors.exists", &f).await;
        }
    };
    let email = super::super::account_email(f.email.trim()).unwrap_or_default();
    tracing::info!(role = %role, "console account added");
    let view = View::new(&state, &s.visit);
    Ok(view.render(
        "admin/accounts_person_added.html",
        &view.text("people.added_title"),
        StatusCode::OK,
        context! {
            email => email,
            role => role.as_str(),
            link => link,
            hours => (super::super::LINK_TTL_MS / 3_600_000).to_string(),
        },
    ))
}

/// `POST /admin/people/role`.
#[tracing::instrument(skip_all)]
pub async fn set_role(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Form(f): Form<PersonFields>,
) -> Result<Response, AppError> {
    let Ok(role) = Role::parse(&f.role) else {
        return refuse(
            &state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "people.errors.role",
            &f,
        )
        .await;
    };
    let email = f.email.trim().to_lowercase();
    let before = state
        .store
        .list_accounts()
        .await?
        .into_iter()
        .find(|a| a.email == email)
        .map(|a| format!("role {}", a.role));
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::AccountRole,
        &email,
        Some(&s.visit.client),
    )
    .change(before, Some(format!("role {role}")));
    let changed = state
        .store
        .set_account_role(&email, role, &audit, state.now_ms())
        .await?;
    answer(&state, &s, changed, "role", &email, &f).await
}

/// `POST /admin/people/remove`.
#[tracing::instrument(skip_all)]
pub async fn remove(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Form(f): Form<PersonFields>,
) -> Result<Response, AppError> {
    let email = f.email.trim().to_lowercase();
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::AccountRemove,
        &email,
        Some(&s.visit.client),
    )
    .change(Some("account".into()), Some("removed".into()));
    let changed = state
        .store
        .remove_account(&email, &audit, state.now_ms())
        .await?;
    answer(&state, &s, changed, "removed", &email, &f).await
}

async fn answer(
    state: &ConsoleState,
    s: &AdminSession,
    changed: PersonChange,
    done: &str,
    email: &str,
    f: &PersonFields,
) -> Result<Response, AppError> {
    match changed {
        PersonChange::Done => {
            tracing::info!(done, "console account changed");
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("done", done).append_pair("who", email);
            Ok(Redirect::to(&format!(
                "{}/accounts?{}#people",
                state.admin_path(),
                q.finish()
            ))
            .into_response())
        }
        PersonChange::Missing => {
            refuse(state, s, StatusCode::NOT_FOUND, "people.errors.missing", f).await
        }
        PersonChange::LastAdmin => {
            refuse(
                state,
                s,
                StatusCode::CONFLICT,
                "people.errors.last_admin",
                f,
            )
            .await
        }
    }
}
