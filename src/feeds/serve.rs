//! The HTTP side of the cache: every public feed document is answered from memory, with
//! conditional GET, HEAD and content negotiation, and no other work per request. These routes
//! sit inside the same layers as every other (trace span, timeout, request metrics, panic
//! catcher), so they count nothing themselves.

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    FeedCache,
    conditional::{negotiate, none_match, not_modified_since},
    rendered::{Encoding, Rendered},
};
use crate::error::AppError;

/// `GET`/`HEAD` of `/`, `/feeds.opml` and `/feeds/{section}.{rss,atom,json}`.
pub async fn cached(State(feeds): State<Arc<FeedCache>>, req: Request) -> Response {
    match feeds.get(req.uri().path()) {
        Some(doc) => respond(&doc, req.headers(), &feeds.cache_control),
        None => AppError::NotFound("no such feed".into()).into_response(),
    }
}

/// Any other method on a feed path.
pub async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
    )
        .into_response()
}

/// What to answer a request for a document: 304 or the body, and in which coding.
fn decide<'a>(
    doc: &Rendered,
    accept_encoding: Option<&str>,
    if_none_match: impl IntoIterator<Item = &'a str>,
    if_modified_since: Option<&str>,
) -> (bool, Encoding) {
    let encoding = doc.available(negotiate(accept_encoding));
    // If-None-Match, when present, decides alone (RFC 9110 §13.2.2).
    let mut if_none_match = if_none_match.into_iter().peekable();
    let not_modified = if if_none_match.peek().is_some() {
        if_none_match.any(|v| none_match(v, &doc.tag))
    } else {
        if_modified_since.is_some_and(|v| not_modified_since(v, doc.last_modified_secs))
    };
    (not_modified, encoding)
}

/// The response to a request for `doc` carrying `headers`.
pub fn respond(doc: &Rendered, headers: &HeaderMap, cache_control: &HeaderValue) -> Response {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let (not_modified, encoding) = decide(
        doc,
        text(header::ACCEPT_ENCODING),
        // Present but unreadable (non-ASCII): matches nothing, and If-Modified-Since is still
        // ignored (RFC 9110 §13.1.3).
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .map(|v| v.to_str().unwrap_or("")),
        text(header::IF_MODIFIED_SINCE),
    );
    let mut resp = if not_modified {
        let mut r = Response::new(unannounced_empty_body());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(doc.body(encoding).clone()));
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, doc.content_type.clone());
        if let Some(coding) = encoding.header() {
            h.insert(header::CONTENT_ENCODING, coding);
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, doc.etag(encoding).clone());
    h.insert(header::LAST_MODIFIED, doc.last_modified.clone());
    h.insert(header::CACHE_CONTROL, cache_control.clone());
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Some(link) = &doc.link {
        h.insert(header::LINK, link.clone());
    }
    if doc.is_html() {
        for (name, value) in super::rendered::HTML_SECURITY_HEADERS {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    resp
}

/// The body of a 304: nothing, without a `Content-Length`.
///
/// RFC 9110 §8.6 allows a Content-Length on a 304 only when it is the 200's, and caches and
/// testers flag `content-length: 0`. A body known to be empty (`Body::empty()`, whose size hint
/// is exactly 0) gets one anyway: axum's router writes the exact size of every answer into
/// `Content-Length`, and hyper sends that header on a HEAD. A stream's size is unknown, so
/// neither adds the header; hyper sends no body with a 304 whatever the body says, so this one
/// is never even polled over HTTP/1.
fn unannounced_empty_body() -> Body {
    Body::from_stream(futures_util::stream::empty::<Result<Bytes, Infallible>>())
}
