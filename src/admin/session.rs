//! Sessions of the console: the cookie, what a request's session resolves to, and the
//! extractors that let a handler run only for a logged-in person ([`EditorSession`]) or an
//! admin ([`AdminSession`]). A session lives in the database (every replica honours it) under
//! the hash of its id; it ends after 12 hours unused or 7 days in all.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};

use super::{
    page::{Notice, View},
    secret,
    state::ConsoleState,
};
use crate::domain::Role;

pub use super::visit::{Signed, Visit};

/// The session cookie: a random id, of which the database keeps only the hash.
pub const SESSION_COOKIE: &str = "tidings_admin";
/// A random value given before login, whose CSRF token the login and set-password forms carry.
pub const PRE_COOKIE: &str = "tidings_admin_pre";
/// The language chosen with `?locale=`.
pub const LOCALE_COOKIE: &str = "tidings_admin_locale";
/// A session unused this long is over.
pub const IDLE_MS: i64 = 12 * 3_600_000;
/// A session this old is over, used or not.
pub const ABSOLUTE_MS: i64 = 7 * 24 * 3_600_000;
/// A session's last use is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A request of a logged-in person, admin or editor.
pub struct EditorSession {
    pub me: Signed,
    pub visit: Visit,
}

/// A request of a logged-in admin; anyone else gets a 403 page (or the login form).
pub struct AdminSession {
    pub me: Signed,
    pub visit: Visit,
}

/// `None` if `visit` has a session whose person has `role` (admins have every role), else
/// the page to answer instead: 403, saying to log in again or that the role is missing.
pub fn refusal(state: &ConsoleState, visit: &Visit, role: Role) -> Option<Response> {
    let view = View::new(state, visit);
    match &visit.signed {
        None => Some(
            view.notice(
                StatusCode::FORBIDDEN,
                Notice::error(
                    view.text("signed_out.title"),
                    vec![view.text("signed_out.body")],
                )
                .link(login_url(state, "/admin"), view.text("signed_out.login")),
            ),
        ),
        Some(s) if role == Role::Admin && s.account.role != Role::Admin => Some(
            view.notice(
                StatusCode::FORBIDDEN,
                Notice::error(
                    view.text("forbidden.title"),
                    vec![view.text("forbidden.body")],
                )
                .link(state.admin_path(), view.text("forbidden.back")),
            ),
        ),
        Some(_) => None,
    }
}

/// The login form, coming back to `next` afterwards.
fn login_url(state: &ConsoleState, next: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("next", next);
    format!("{}/login?{}", state.admin_path(), q.finish())
}

async fn extract(
    parts: &mut Parts,
    state: &ConsoleState,
    role: Role,
) -> Result<(Signed, Visit), Response> {
    let visit = Visit::from_request_parts(parts, state).await?;
    if visit.signed.is_none() && parts.method == axum::http::Method::GET {
        // A GET without a session goes to the login form and comes back here after.
        let next = visit.uri.path_and_query().map_or("/admin", |p| p.as_str());
        return Err(Redirect::to(&login_url(state, next)).into_response());
    }
    if let Some(refused) = refusal(state, &visit, role) {
        return Err(refused);
    }
    let me = visit.signed.clone().expect("refusal checked the session");
    Ok((me, visit))
}

impl<S: Send + Sync> FromRequestParts<S> for EditorSession
where
    ConsoleState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let state = ConsoleState::from_ref(state);
        let (me, visit) = extract(parts, &state, Role::Editor).await?;
        Ok(Self { me, visit })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminSession
where
    ConsoleState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let state = ConsoleState::from_ref(state);
        let (me, visit) = extract(parts, &state, Role::Admin).await?;
        Ok(Self { me, visit })
    }
}

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for the console's path: `HttpOnly`, `Secure` on https; `max_age`
/// in seconds (`Some(0)` deletes it; `None` lasts for the browser session).
pub fn set_cookie(
    state: &ConsoleState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
    same_site: &str,
) -> HeaderValue {
    let mut c = format!(
        "{name}={value}; Path={}; HttpOnly; SameSite={same_site}",
        state.admin_path()
    );
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if state.secure_cookies() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are URL-safe")
}

/// The live session named by the request's cookie, touched when last seen long enough ago.
pub async fn resolve(state: &ConsoleState, headers: &HeaderMap) -> anyhow::Result<Option<Signed>> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = secret::hash(id);
    let now = state.now_ms();
    let Some(row) = state
        .store
        .session(&hash, now - IDLE_MS, now - ABSOLUTE_MS)
        .await?
    else {
        return Ok(None);
    };
    if now - row.last_seen_ms >= TOUCH_EVERY_MS {
        state.store.touch_session(&hash, now).await?;
    }
    Ok(Some(Signed {
        account: row.account,
        session_hash: hash,
        csrf: secret::csrf_token(id),
    }))
}
