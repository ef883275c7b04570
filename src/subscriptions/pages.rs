//! Server-rendered answers: pages from `config/templates/pages/`, their protective headers,
//! and the JSON twin of each answer.

use std::collections::BTreeMap;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use minijinja::{Value, context};
use serde::Serialize;

use super::{
    input::{Format, Problem},
    state::PageState,
};
use crate::{branding::Brand, error::AppError, mail::Templates};

/// A form a notice page offers (e.g. "send a new confirmation mail").
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub label: String,
}

/// A link a notice page offers.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub url: String,
    pub label: String,
}

/// A page saying one thing: a title, some lines, maybe a button or a link.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Notice {
    pub title: String,
    pub lines: Vec<String>,
    pub action: Option<Action>,
    pub link: Option<Link>,
    pub error: bool,
}

/// Where and in which language a page is rendered.
pub struct Page<'a> {
    pub state: &'a PageState,
    pub locale: &'static str,
    /// The path this page lives at, for the language switch link.
    pub path: &'a str,
    /// The link token to keep in the language switch link.
    pub token: Option<&'a str>,
}

impl Page<'_> {
    /// A string of this page's locale.
    pub fn text(&self, key: &str) -> String {
        self.state.templates.text(self.locale, key)
    }

    /// The path prefix of `site.base_url` (empty at the root), for links and form actions.
    pub fn base_path(&self) -> String {
        url::Url::parse(&self.state.config.site.base_url)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    /// Renders `template` with the common context plus `extra`.
    pub fn render(
        &self,
        template: &str,
        title: &str,
        status: StatusCode,
        extra: Value,
    ) -> Response {
        match self.html(template, title, extra) {
            Ok(html) => html_response(status, self.locale, html),
            Err(e) => AppError::Internal(e).into_response(),
        }
    }

    /// The HTML of `template` with the common context plus `extra`.
    pub fn html(&self, template: &str, title: &str, extra: Value) -> anyhow::Result<String> {
        let other = self.text("common.other_locale");
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        // A page behind a link keeps its token: without it the other language's page
        // could not tell whose it is.
        if let Some(t) = self.token {
            query.append_pair("token", t);
        }
        query.append_pair("locale", &other);
        let base_path = self.base_path();
        let switch = format!("{base_path}{}?{}", self.path, query.finish());
        let ctx = base_context(
            &self.state.templates,
            &self.state.branding.brand(self.locale),
            self.locale,
            &base_path,
            &switch,
            title,
        );
        self.state
            .templates
            .render(template, context! { ..ctx, ..extra })
    }

    /// Renders a notice page.
    pub fn notice(&self, status: StatusCode, notice: Notice) -> Response {
        let title = notice.title.clone();
        self.render("pages/notice.html", &title, status, ser(&notice))
    }

    /// Answers a problem: JSON `{"error", "field"}` or a notice page, in this locale.
    pub fn problem(&self, format: Format, p: &Problem) -> Response {
        let message = self.problem_text(p);
        let mut resp = match format {
            Format::Json => json_response(p.status, error_body(&message, p.field.as_deref())),
            Format::Html => self.notice(
                p.status,
                Notice {
                    title: self.text("failed.title"),
                    lines: vec![message, self.text("failed.body")],
                    error: true,
                    ..Notice::default()
                },
            ),
        };
        if p.status == StatusCode::TOO_MANY_REQUESTS || p.status == StatusCode::SERVICE_UNAVAILABLE
        {
            if let Ok(v) = HeaderValue::from_str(&p.value) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }

    /// The translated message of a problem.
    pub fn problem_text(&self, p: &Problem) -> String {
        self.text(&format!("errors.{}", p.code))
            .replace("{value}", &p.value)
    }
}

/// What `pages/base.html` needs: strings, language, branding, the site's path prefix, the
/// other language's address of this page, and the title.
pub fn base_context(
    templates: &Templates,
    brand: &Brand,
    locale: &str,
    base_path: &str,
    other_locale_url: &str,
    title: &str,
) -> Value {
    context! {
        t => templates.strings(locale),
        locale => locale,
        site_title => &brand.title,
        logo_url => &brand.logo_url,
        accent => &brand.accent,
        footer => &brand.footer,
        base_path => base_path,
        other_locale_url => other_locale_url,
        title => title,
    }
}

/// Any serialisable value as a template value.
pub fn ser<T: Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// `{"error": …, "field": …}` as every JSON error of the service.
pub fn error_body(message: &str, field: Option<&str>) -> serde_json::Value {
    let mut body = serde_json::json!({ "error": message });
    if let Some(f) = field {
        body["field"] = f.into();
    }
    body
}

/// A JSON answer with the same protective headers as pages.
pub fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    protect(&mut resp);
    resp
}

fn html_response(status: StatusCode, locale: &str, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(locale) {
        h.insert(header::CONTENT_LANGUAGE, v);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Accept"),
    );
    protect(&mut resp);
    resp
}

/// Pages carry secret tokens in their URLs: never cache them, never leak them in a Referer,
/// never let another site frame them; no script runs at all. Images only for the logo the
/// console's settings may name (any http(s) address).
fn protect(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}
