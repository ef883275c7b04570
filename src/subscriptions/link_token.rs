//! The token of a mailed link: resolving it (missing or malformed is a 400, unknown or
//! outdated a 404: the same page either way, so a guess learns nothing), and the extractors
//! that open every page behind such a link, [`TokenPage`] for `GET` and [`TokenForm`] for
//! `POST`, so that their handlers start where the answers start to differ.

use std::marker::PhantomData;

use axum::{
    extract::{FromRef, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    input::{self, Fields, Format, Problem},
    pages::{Link, Notice, Page, json_response},
    state::PageState,
    token,
};
use crate::domain::TokenKind;
use crate::{
    error::AppError,
    store::{Store, TokenMatch},
};

/// Why a link did not lead to a subscriber.
pub enum LinkError {
    /// No usable token (400).
    Bad(Problem),
    /// No such token, or one of an earlier subscription, or of another kind (404).
    Unknown,
}

/// Finds the subscriber behind `raw` if it is a current token of `kind`.
pub async fn resolve(
    store: &Store,
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
    Ok(match store.find_token(&hash).await? {
        Some(m) if token::matches(&hash, &m.hash) && m.is_current(kind) => Ok(m),
        _ => Err(LinkError::Unknown),
    })
}

/// A page behind a mailed link, named by a marker type: the kind of token its link carries,
/// where it lives, and what its form may send.
pub trait LinkPage {
    /// The kind of token the link must carry.
    const KIND: TokenKind;
    /// Where the page lives (for its language switch link).
    const PATH: &'static str;
    /// The fields its `POST` takes; any other is refused (400).
    const FIELDS: &'static [&'static str];
    /// Whether its `POST` may come as `multipart/form-data`, unread (RFC 8058 one-click).
    const MULTIPART: bool = false;
}

/// A `GET` of the page `K` whose query `token` is a current token of `K::KIND`. Any other
/// request is answered before the handler runs, the same way on every such page: a missing,
/// repeated or malformed token or an unknown `locale` with 400/422, an unknown or outdated
/// token with 404 (as a page or JSON, as asked). Nothing changes: mail scanners fetch links.
pub struct TokenPage<K> {
    /// Whose token it is.
    pub found: TokenMatch,
    pub format: Format,
    /// The link's token, kept in the page's language switch link.
    pub token: String,
    /// The query's `locale`, else `Accept-Language`, else the subscriber's language.
    pub locale: &'static str,
    page: PhantomData<fn() -> K>,
}

impl<K: LinkPage> TokenPage<K> {
    /// The page to answer on.
    pub fn page<'a>(&'a self, state: &'a PageState) -> Page<'a> {
        Page {
            state,
            locale: self.locale,
            path: K::PATH,
            token: Some(&self.token),
        }
    }
}

impl<S, K> FromRequestParts<S> for TokenPage<K>
where
    PageState: FromRef<S>,
    S: Send + Sync,
    K: LinkPage,
{
    /// The answer to a link that did not resolve (or a 500).
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let state = PageState::from_ref(state);
        let headers = &parts.headers;
        let query = Fields::from_query(parts.uri.query());
        let format = input::answer_format(headers);
        let raw = query.one("token").unwrap_or(None);
        let found = resolve(&state.store, raw, K::KIND)
            .await
            .map_err(IntoResponse::into_response)?;
        let fallback = found
            .as_ref()
            .map_or(state.config.site.language.as_str(), |m| m.locale.as_str());
        let (page, locale_ok) =
            page_for(&state, headers, query.one("locale"), fallback, K::PATH, raw);
        if let Err(p) = query.one("token").and(locale_ok) {
            return Err(page.problem(format, &p));
        }
        match found {
            Ok(found) => Ok(Self {
                found,
                format,
                token: raw.unwrap_or_default().to_owned(),
                locale: page.locale,
                page: PhantomData,
            }),
            Err(e) => Err(link_error(&page, format, &e)),
        }
    }
}

/// A `POST` to the page `K` whose token (the body's `token` field, else the query's) is a
/// current token of `K::KIND`. Any other request is answered before the handler runs: an
/// unreadable body, a field outside `K::FIELDS`, a repeated or missing token or an unknown
/// `locale` with 4xx, an unknown or outdated token with 404.
pub struct TokenForm<K> {
    /// Whose token it is.
    pub found: TokenMatch,
    pub format: Format,
    /// The submitted fields, all of them among `K::FIELDS`.
    pub fields: Fields,
    /// The token as submitted.
    pub token: String,
    /// The `locale` field (or query), else `Accept-Language`, else the subscriber's language.
    pub locale: &'static str,
    /// Whether the request named its language (`locale` field or query).
    pub locale_asked: bool,
    page: PhantomData<fn() -> K>,
}

impl<K: LinkPage> TokenForm<K> {
    /// The page to answer on. Its language switch leads to the `GET` of `K` with the token,
    /// which shows the state the `POST` left, in the other language.
    pub fn page<'a>(&'a self, state: &'a PageState) -> Page<'a> {
        Page {
            state,
            locale: self.locale,
            path: K::PATH,
            token: Some(&self.token),
        }
    }
}

impl<S, K> FromRequest<S> for TokenForm<K>
where
    PageState: FromRef<S>,
    S: Send + Sync,
    K: LinkPage,
{
    /// The answer to a form that did not resolve (or a 500).
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let state = PageState::from_ref(state);
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        let query = Fields::from_query(parts.uri.query());
        let site = state.config.site.language.as_str();
        let (format, fields) = match input::read_body(headers, body, K::MULTIPART).await {
            Ok(x) => x,
            Err(p) => {
                let (page, _) = page_for(&state, headers, Ok(None), site, K::PATH, None);
                return Err(page.problem(input::answer_format(headers), &p));
            }
        };
        let raw = token_field(&fields, &query);
        let found = resolve(&state.store, raw.clone().ok().flatten(), K::KIND)
            .await
            .map_err(IntoResponse::into_response)?;
        let fallback = found.as_ref().map_or(site, |m| m.locale.as_str());
        let locale = locale_field(&fields, &query);
        let locale_asked = matches!(locale, Ok(Some(_)));
        let shown = raw.clone().ok().flatten().map(str::to_owned);
        let (page, locale_ok) =
            page_for(&state, headers, locale, fallback, K::PATH, shown.as_deref());
        let checked = fields
            .only(K::FIELDS)
            .and(raw)
            .and_then(|r| locale_ok.map(|()| r));
        let token = match checked {
            Ok(r) => r.unwrap_or_default().to_owned(),
            Err(p) => return Err(page.problem(format, &p)),
        };
        match found {
            Ok(found) => Ok(Self {
                found,
                format,
                fields,
                token,
                locale: page.locale,
                locale_asked,
                page: PhantomData,
            }),
            Err(e) => Err(link_error(&page, format, &e)),
        }
    }
}

/// The token of a request: the body's `token` field, else the query's.
fn token_field<'a>(body: &'a Fields, query: &'a Fields) -> Result<Option<&'a str>, Problem> {
    match body.one("token")? {
        Some(t) => Ok(Some(t)),
        None => query.one("token"),
    }
}

/// The `locale` of a request: the body's field, else the query's.
fn locale_field<'a>(body: &'a Fields, query: &'a Fields) -> Result<Option<&'a str>, Problem> {
    match body.one("locale")? {
        Some(l) => Ok(Some(l)),
        None => query.one("locale"),
    }
}

/// The page for a request whose language comes from `locale_field`, `Accept-Language`, then
/// `fallback` (the subscriber's language when known). A bad `locale_field` is reported.
fn page_for<'a>(
    state: &'a PageState,
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
