//! `GET|POST /admin/login`, `POST /admin/logout`, `POST /admin/logout-everywhere`.
//!
//! Login is throttled per typed address and per client address, from the attempts recorded
//! in the database (shared by replicas). An unknown address gets the same answer, after the
//! same Argon2 work (against a dummy hash), as a wrong password.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::Deserialize;

use super::{
    account_email,
    page::View,
    password, secret,
    session::{ABSOLUTE_MS, EditorSession, IDLE_MS, PRE_COOKIE, SESSION_COOKIE, Visit, set_cookie},
    state::ConsoleState,
};
use crate::{
    domain::{Audit, AuditKind, LoginOutcome},
    error::AppError,
    store::NewSession,
};

/// Failures for one address within [`WINDOW_MS`] after which it waits.
pub const ACCOUNT_FAILURES: u32 = 10;
/// Failures from one client address within [`WINDOW_MS`] after which it waits.
pub const CLIENT_FAILURES: u32 = 30;
/// The sliding window failures are counted in.
pub const WINDOW_MS: i64 = 15 * 60_000;

/// Query of the login page.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
    /// What just happened: `logout`, `everywhere` or `password`.
    #[serde(default)]
    done: String,
}

/// The login form's fields (its CSRF token is checked by the guard).
#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Where to go after login: a console page of this site, else the dashboard.
fn safe_next(next: &str) -> &str {
    let ok = (next == "/admin" || next.starts_with("/admin/") || next.starts_with("/admin?"))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.starts_with("/admin/login");
    if ok { next } else { "/admin" }
}

/// `GET /admin/login`: the form (a person already logged in goes on to the console).
pub async fn show(
    State(state): State<ConsoleState>,
    visit: Visit,
    Query(q): Query<LoginQuery>,
) -> Response {
    if visit.signed.is_some() {
        return Redirect::to(&format!("{}{}", state.base_path(), safe_next(&q.next)))
            .into_response();
    }
    let view = View::new(&state, &visit);
    let done = match q.done.as_str() {
        "logout" | "everywhere" | "password" => Some(view.text(&format!("login.done_{}", q.done))),
        _ => None,
    };
    form(&view, StatusCode::OK, "", safe_next(&q.next), None, done)
}

fn form(
    view: &View<'_>,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<String>,
    done: Option<String>,
) -> Response {
    view.render(
        "admin/login.html",
        &view.text("login.title"),
        status,
        context! { email => email, next => next, error => error, done => done },
    )
}

/// `POST /admin/login`.
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<ConsoleState>,
    visit: Visit,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &visit);
    let next = safe_next(&f.next).to_owned();
    let email = account_email(&f.email).unwrap_or_else(|_| typed(&f.email));
    let now = state.now_ms();
    let since = now - WINDOW_MS;
    let by_email = state
        .store
        .login_failures_of_email(&email, since, ACCOUNT_FAILURES)
        .await?;
    let by_client = state
        .store
        .login_failures_of_client(&visit.client, since, CLIENT_FAILURES)
        .await?;
    let wait_ms = [
        wait(&by_email, ACCOUNT_FAILURES, now),
        wait(&by_client, CLIENT_FAILURES, now),
    ]
    .into_iter()
    .flatten()
    .max();
    // The password is checked whatever happens next, so that neither a throttled nor an
    // unknown address answers faster than a known one.
    let secret = state.store.login_secret(&email).await?;
    let stored = secret.as_ref().and_then(|s| s.password_hash.clone());
    let matches = check(&state, f.password, stored.clone()).await && stored.is_some();
    if let Some(wait_ms) = wait_ms {
        state
            .store
            .record_login_attempt(&email, &visit.client, LoginOutcome::Throttled, now)
            .await?;
        tracing::warn!(client = %visit.client, "console login throttled");
        let minutes = (wait_ms + 59_999) / 60_000;
        let mut resp = form(
            &view,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &next,
            Some(
                view.text("login.throttled")
                    .replace("{minutes}", &minutes.to_string()),
            ),
            None,
        );
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from((wait_ms + 999) / 1000),
        );
        return Ok(resp);
    }
    let Some(account) = secret.filter(|_| matches).map(|s| s.account) else {
        state
            .store
            .record_login_attempt(&email, &visit.client, LoginOutcome::Failed, now)
            .await?;
        return Ok(form(
            &view,
            StatusCode::UNAUTHORIZED,
            &email,
            &next,
            Some(view.text("login.wrong")),
            None,
        ));
    };
    let id = secret::generate();
    let hash = secret::hash(&id);
    let replaces = visit.signed.as_ref().map(|s| s.session_hash.clone());
    state
        .store
        .log_in(
            account.id,
            &account.email,
            &NewSession {
                hash: &hash,
                replaces: replaces.as_deref(),
                client: &visit.client,
                idle_cutoff_ms: now - IDLE_MS,
                absolute_cutoff_ms: now - ABSOLUTE_MS,
            },
            &Audit::new(
                &account.email,
                AuditKind::Login,
                &account.email,
                Some(&visit.client),
            ),
            now,
        )
        .await?;
    tracing::info!(account = account.id, "console login");
    let mut resp = Redirect::to(&format!("{}{next}", state.base_path())).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &id, Some(ABSOLUTE_MS / 1000), "Lax"),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&state, PRE_COOKIE, "", Some(0), "Strict"),
    );
    Ok(resp)
}

/// The address as typed, for recording attempts with addresses that are not valid at all.
fn typed(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(254)
        .collect::<String>()
        .to_lowercase()
}

/// How long (ms) to wait when `failures` (newest first) reach `limit` within the window.
fn wait(failures: &[i64], limit: u32, now: i64) -> Option<i64> {
    let limit = limit as usize;
    (failures.len() >= limit)
        .then(|| failures[limit - 1] + WINDOW_MS - now)
        .filter(|w| *w > 0)
}

/// Checks `password` against `stored` (or the dummy hash) off the async threads, a few at
/// a time.
async fn check(state: &ConsoleState, password: String, stored: Option<String>) -> bool {
    let Ok(_permit) = state.hashing.acquire().await else {
        return false;
    };
    let stored = stored.unwrap_or_else(|| password::dummy_hash().to_owned());
    tokio::task::spawn_blocking(move || password::verify(&password, &stored))
        .await
        .unwrap_or(false)
}

/// `POST /admin/logout`: ends this session.
pub async fn logout(
    State(state): State<ConsoleState>,
    s: EditorSession,
) -> Result<Response, AppError> {
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::Logout,
        &s.me.account.email,
        Some(&s.visit.client),
    );
    state
        .store
        .end_session(&s.me.session_hash, &audit, state.now_ms())
        .await?;
    Ok(signed_out(&state, "logout"))
}

/// `POST /admin/logout-everywhere`: ends every session of this person.
pub async fn logout_everywhere(
    State(state): State<ConsoleState>,
    s: EditorSession,
) -> Result<Response, AppError> {
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::LogoutEverywhere,
        &s.me.account.email,
        Some(&s.visit.client),
    );
    state
        .store
        .end_all_sessions(s.me.account.id, &audit, state.now_ms())
        .await?;
    Ok(signed_out(&state, "everywhere"))
}

fn signed_out(state: &ConsoleState, done: &str) -> Response {
    let mut resp =
        Redirect::to(&format!("{}/login?done={done}", state.admin_path())).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, "", Some(0), "Lax"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_followed_after_login() {
        assert_eq!(
            safe_next("/admin/audit?kind=login"),
            "/admin/audit?kind=login"
        );
        assert_eq!(safe_next("/admin"), "/admin");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/admin//evil",
            "/adminx",
            "/admin/login",
            "/feeds/all.rss",
            "/admin/\\evil",
        ] {
            assert_eq!(safe_next(bad), "/admin", "{bad}");
        }
    }

    #[test]
    fn the_wait_ends_when_the_tenth_newest_failure_leaves_the_window() {
        let now = 100 * 60_000;
        let failures: Vec<i64> = (0..10).map(|i| now - i * 60_000).collect();
        assert_eq!(wait(&failures, 10, now), Some(WINDOW_MS - 9 * 60_000));
        assert_eq!(wait(&failures[..9], 10, now), None);
    }
}
