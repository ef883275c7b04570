//! Resolving the token of a link: missing or malformed is a 400, unknown or outdated a 404
//! (the same page either way, so a guess learns nothing), otherwise the subscriber.

use axum::{
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::json;

use super::{
    input::{self, Fields, Format, Problem},
    pages::{Link, Notice, Page, json_response},
    token,
};
use crate::domain::TokenKind;
use crate::{AppState, error::AppError, store::TokenMatch};

/// Why a link did not lead to a subscriber.
pub enum LinkError {
    /// No usable token (400).
    Bad(Problem),
    /// No such token, or one of an earlier subscription, or of another kind (404).
    Unknown,
}

/// Finds the subscriber behind `raw` if it is a current token of `kind`.
pub async fn resolve(
    state: &AppState,
    raw: Option<&str>,
    kind: TokenKind,
) -> Result<Result<TokenMatch, LinkError>, AppError> {
    let raw = match raw.map(str::trim) {
        None | Some("") => {
            return Ok(Err(LinkError::Bad(Problem::bad(
                Some("token"),
                "token_missing",
                "",
            ))));
        }
        Some(r) => r,
    };
    if !token::well_formed(raw) {
        return Ok(Err(LinkError::Bad(Problem::bad(
            Some("token"),
            "token_malformed",
            "",
        ))));
    }
    let hash = token::hash(raw);
    Ok(match state.store.find_token(&hash).await? {
        Some(m) if token::matches(&hash, &m.hash) && m.is_current(kind) => Ok(m),
        _ => Err(LinkError::Unknown),
    })
}

/// A mailed link opened with `GET` whose token resolved.
pub struct Opened<'a> {
    /// The page, in the language of the query's `locale`, `Accept-Language`, then the
    /// subscriber's; its `token` is the link's.
    pub page: Page<'a>,
    pub format: Format,
    pub found: TokenMatch,
}

/// The opening every `GET` behind a mailed link shares: resolves the query's `token` as a
/// current token of `kind` and picks the page. A missing or malformed token or locale, or an
/// unknown token, is answered here (`Err`), the same way on every such page.
pub async fn open<'a>(
    state: &'a AppState,
    query: &'a Fields,
    headers: &HeaderMap,
    kind: TokenKind,
    path: &'a str,
) -> Result<Result<Opened<'a>, Response>, AppError> {
    let format = input::answer_format(headers);
    let raw = query.one("token").unwrap_or(None);
    let found = resolve(state, raw, kind).await?;
    let fallback = found
        .as_ref()
        .map_or(state.config.site.language.as_str(), |m| m.locale.as_str());
    let (page, locale_ok) = page_for(state, headers, query.one("locale"), fallback, path, raw);
    if let Err(p) = query.one("token").and(locale_ok) {
        return Ok(Err(page.problem(format, &p)));
    }
    Ok(match found {
        Ok(found) => Ok(Opened {
            page,
            format,
            found,
        }),
        Err(e) => Err(link_error(&page, format, &e)),
    })
}

/// The token of a request: the body's `token` field, else the query's.
pub fn token_field<'a>(body: &'a Fields, query: &'a Fields) -> Result<Option<&'a str>, Problem> {
    match body.one("token")? {
        Some(t) => Ok(Some(t)),
        None => query.one("token"),
    }
}

/// The `locale` of a request: the body's field, else the query's.
pub fn locale_field<'a>(body: &'a Fields, query: &'a Fields) -> Result<Option<&'a str>, Problem> {
    match body.one("locale")? {
        Some(l) => Ok(Some(l)),
        None => query.one("locale"),
    }
}

/// The page for a request whose language comes from `locale_field`, `Accept-Language`, then
/// `fallback` (the subscriber's language when known). A bad `locale_field` is reported.
pub fn page_for<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    locale_field: Result<Option<&str>, Problem>,
    fallback: &str,
    path: &'a str,
    token: Option<&'a str>,
) -> (Page<'a>, Result<(), Problem>) {
    let chosen = locale_field.and_then(|l| input::choose_locale(l, headers, fallback));
    let locale = match &chosen {
        Ok(l) => l,
        Err(_) => input::choose_locale(None, headers, fallback).unwrap_or("zh-CN"),
    };
    (
        Page {
            state,
            locale,
            path,
            token,
        },
        chosen.map(drop),
    )
}

/// Answers a link that did not resolve.
pub fn link_error(page: &Page<'_>, format: Format, e: &LinkError) -> Response {
    match e {
        LinkError::Bad(p) => page.problem(format, p),
        LinkError::Unknown => match format {
            Format::Json => json_response(
                StatusCode::NOT_FOUND,
                json!({ "error": page.text("invalid.body"), "field": "token" }),
            ),
            Format::Html => page.notice(
                StatusCode::NOT_FOUND,
                Notice {
                    title: page.text("invalid.title"),
                    lines: vec![page.text("invalid.body")],
                    link: Some(Link {
                        url: format!("{}/subscribe?locale={}", page.base_path(), page.locale),
                        label: page.text("invalid.subscribe_link"),
                    }),
                    error: true,
                    ..Notice::default()
                },
            ),
        },
    }
}
