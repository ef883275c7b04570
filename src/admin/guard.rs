//! The middleware in front of every console route: works out the request's language,
//! session and client once ([`Visit`]), and refuses a state-changing request (anything but
//! GET/HEAD) unless it comes from this site (`Origin`/`Referer`, when present, must be
//! `site.base_url`'s origin) and carries the CSRF token of its session.

use std::net::SocketAddr;

use axum::{
    body::{Body, to_bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{
    page::{Notice, View},
    secret,
    session::{self, LOCALE_COOKIE, PRE_COOKIE, Signed, Visit},
    state::ConsoleState,
};
use crate::{domain::Role, error::AppError, subscriptions::supported};

/// Largest form body the guard reads to find the CSRF token (the service-wide limit).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Pages shown before login, whose forms carry the token of the [`PRE_COOKIE`].
const BEFORE_LOGIN: &[&str] = &["/admin/login", "/admin/password"];

/// Name of the CSRF field of forms (also accepted as a query parameter, for uploads, and as
/// the `X-CSRF-Token` header).
pub const CSRF_FIELD: &str = "csrf";

/// The guard; see the module documentation.
pub async fn guard(State(state): State<ConsoleState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let chosen = query_param(&parts, "locale").and_then(|l| supported(&l));
    let locale = chosen
        .or_else(|| session::cookie(&parts.headers, LOCALE_COOKIE).and_then(supported))
        .or_else(|| supported(&state.config.site.language))
        .unwrap_or("zh-CN");
    let signed = match session::resolve(&state, &parts.headers).await {
        Ok(s) => s,
        Err(e) => return AppError::Internal(e).into_response(),
    };
    let before_login = BEFORE_LOGIN.contains(&parts.uri.path());
    let pre = session::cookie(&parts.headers, PRE_COOKIE).map(str::to_owned);
    let new_pre = (before_login && pre.is_none()).then(secret::generate);
    let pre_key = pre.clone().or_else(|| new_pre.clone());
    let visit = Visit {
        locale,
        uri: parts.uri.clone(),
        client: client(&state, &parts),
        pre_csrf: before_login
            .then(|| pre_key.as_deref().map(secret::csrf_token))
            .flatten(),
        signed,
    };
    let req = if matches!(parts.method, Method::GET | Method::HEAD) {
        parts.extensions.insert(visit);
        Request::from_parts(parts, body)
    } else {
        let expected = if before_login {
            pre.as_deref().map(secret::csrf_token)
        } else {
            visit.signed.as_ref().map(|s: &Signed| s.csrf.clone())
        };
        if !before_login && visit.signed.is_none() {
            // No session: the page says to log in again (and nothing changes).
            if let Some(refused) = session::refusal(&state, &visit, Role::Editor) {
                return refused;
            }
        }
        let body = match to_bytes(body, BODY_LIMIT).await {
            Ok(b) => b,
            Err(_) => return AppError::PayloadTooLarge.into_response(),
        };
        let given = csrf_given(&parts, &body);
        let same_site = same_origin(&parts.headers, &state.config.site.base_url);
        let token_ok = match (&expected, &given) {
            (Some(e), Some(g)) => secret::same(e, g),
            _ => false,
        };
        if !(same_site && token_ok) {
            tracing::warn!(
                path = %parts.uri.path(),
                same_site,
                token = given.is_some(),
                "console form refused: cross-site or without its CSRF token"
            );
            return refused(&state, &visit);
        }
        parts.extensions.insert(visit.clone());
        Request::from_parts(parts, Body::from(body))
    };
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(l) = chosen {
        h.append(
            header::SET_COOKIE,
            session::set_cookie(&state, LOCALE_COOKIE, l, Some(365 * 86_400), "Lax"),
        );
    }
    if let Some(p) = new_pre {
        h.append(
            header::SET_COOKIE,
            session::set_cookie(&state, PRE_COOKIE, &p, None, "Strict"),
        );
    }
    resp
}

/// The request's client: the peer, or behind a trusted proxy what `X-Forwarded-For` says
/// (`server.trusted_proxies`).
fn client(state: &ConsoleState, parts: &Parts) -> String {
    let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return "0.0.0.0".to_owned();
    };
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    crate::config::client_address(
        peer.0.ip(),
        forwarded.as_deref(),
        &state.config.server.trusted_proxies,
    )
    .to_string()
}

fn refused(state: &ConsoleState, visit: &Visit) -> Response {
    let view = View::new(state, visit);
    let back = visit.uri.path().to_owned();
    view.notice(
        StatusCode::FORBIDDEN,
        Notice::error(view.text("csrf.title"), vec![view.text("csrf.body")]).link(
            format!("{}{back}", state.base_path()),
            view.text("csrf.back"),
        ),
    )
}

fn query_param(parts: &Parts, name: &str) -> Option<String> {
    url::form_urlencoded::parse(parts.uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The CSRF token the request carries: the header, the form field, or the query parameter.
fn csrf_given(parts: &Parts, body: &[u8]) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_owned());
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form
        && let Some((_, v)) = url::form_urlencoded::parse(body).find(|(k, _)| k == CSRF_FIELD)
    {
        return Some(v.into_owned());
    }
    query_param(parts, CSRF_FIELD)
}

/// Whether `Origin` (or else `Referer`) names the origin of `base_url`; a request with
/// neither passes (older clients, privacy settings): the CSRF token still has to match.
fn same_origin(headers: &HeaderMap, base_url: &str) -> bool {
    let Ok(base) = url::Url::parse(base_url) else {
        return false;
    };
    let expected = base.origin();
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER));
    match claimed {
        None => true,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| url::Url::parse(s).ok())
            .is_some_and(|u| u.origin() == expected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn only_the_sites_own_origin_passes() {
        let base = "https://news.example.org/feeds";
        assert!(same_origin(&HeaderMap::new(), base));
        assert!(same_origin(
            &headers(header::ORIGIN, "https://news.example.org"),
            base
        ));
        assert!(same_origin(
            &headers(header::REFERER, "https://news.example.org/admin/accounts"),
            base
        ));
        for bad in [
            "https://evil.example.org",
            "http://news.example.org",
            "https://news.example.org:8443",
            "null",
        ] {
            assert!(!same_origin(&headers(header::ORIGIN, bad), base), "{bad}");
        }
    }
}
