//! Console pages: templates under `config/templates/admin/`, the layout's context (person,
//! navigation, language switch, CSRF token) and the protective headers of every answer.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::Serialize;

use super::{state::ConsoleState, visit::Visit};
use crate::{domain::Role, error::AppError};

/// The console's sections in the header, with the least role that may open each.
const NAV: &[(&str, &str, Role)] = &[
    ("dashboard", "", Role::Editor),
    ("articles", "/articles", Role::Editor),
    ("sections", "/sections", Role::Editor),
    ("schedules", "/schedules", Role::Admin),
    ("runs", "/runs", Role::Admin),
    ("returned", "/returned", Role::Admin),
    ("previews", "/previews", Role::Editor),
    ("subscribers", "/subscribers", Role::Admin),
    ("sources", "/sources", Role::Editor),
    ("settings", "/settings", Role::Admin),
    ("accounts", "/accounts", Role::Admin),
    ("audit", "/audit", Role::Admin),
];

/// A page saying one thing: a title, some lines, maybe a link.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Notice {
    pub title: String,
    pub lines: Vec<String>,
    pub link: Option<(String, String)>,
    pub error: bool,
}

impl Notice {
    /// A notice about something that went wrong.
    pub fn error(title: String, lines: Vec<String>) -> Self {
        Self {
            title,
            lines,
            link: None,
            error: true,
        }
    }

    /// The same notice with a link (`url`, `label`).
    pub fn link(mut self, url: String, label: String) -> Self {
        self.link = Some((url, label));
        self
    }
}

#[derive(Serialize)]
struct NavItem {
    key: &'static str,
    url: String,
    current: bool,
}

/// Renders console pages for one request.
pub struct View<'a> {
    pub state: &'a ConsoleState,
    pub visit: &'a Visit,
}

impl<'a> View<'a> {
    pub fn new(state: &'a ConsoleState, visit: &'a Visit) -> Self {
        Self { state, visit }
    }

    /// A console string of this page's locale, by key under `admin.`.
    pub fn text(&self, key: &str) -> String {
        self.state
            .templates
            .text(self.visit.locale, &format!("admin.{key}"))
    }

    /// `t` as a time of day in the site's zone: `2026-03-01 08:00`.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        self.time_in(t, &self.state.config.site.timezone)
    }

    /// `t` on the wall clock of the IANA zone `zone` (UTC if it is unknown).
    pub fn time_in(&self, t: DateTime<Utc>, zone: &str) -> String {
        match zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            Err(_) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }

    /// Renders `template` with the layout's context plus `extra`.
    pub fn render(
        &self,
        template: &str,
        title: &str,
        status: StatusCode,
        extra: Value,
    ) -> Response {
        let admin = self.state.admin_path();
        let path = self.visit.uri.path();
        let me = self.visit.signed.as_ref();
        let nav: Vec<NavItem> = match me {
            None => Vec::new(),
            Some(s) => NAV
                .iter()
                .filter(|(_, _, role)| *role == Role::Editor || s.account.role == Role::Admin)
                .map(|(key, sub, _)| NavItem {
                    key,
                    url: format!("{admin}{sub}"),
                    current: if sub.is_empty() {
                        path == "/admin"
                    } else {
                        path.starts_with(&format!("/admin{sub}"))
                    },
                })
                .collect(),
        };
        let strings = self.state.templates.strings(self.visit.locale);
        let ctx = context! {
            t => strings.get_attr("admin").unwrap_or_default(),
            locale => self.visit.locale,
            site_title => self.state.branding.brand(self.visit.locale).title,
            // The settings page's accent colour, as a stylesheet whose URL changes with it.
            accent_css_url => self.state.branding.accent().map(|a| {
                format!("{admin}/settings/accent.css?v={}", a.trim_start_matches('#'))
            }),
            css_url => format!("{admin}/assets/console.css?v={}", env!("CARGO_PKG_VERSION")),
            admin => admin,
            other_locale => other_locale(self.visit.locale),
            other_locale_url => self.other_locale_url(),
            me => me.map(|s| context! { email => &s.account.email, role => s.account.role.as_str() }),
            csrf => me.map(|s| s.csrf.clone()).or_else(|| self.visit.pre_csrf.clone()),
            nav => ser(&nav),
            title => title,
            ..extra
        };
        match self.state.templates.render(template, ctx) {
            Ok(html) => html_response(status, self.visit.locale, html),
            Err(e) => AppError::Internal(e).into_response(),
        }
    }

    /// Renders a notice page.
    pub fn notice(&self, status: StatusCode, notice: Notice) -> Response {
        let title = notice.title.clone();
        self.render("admin/notice.html", &title, status, ser(&notice))
    }

    /// This page in the other language: the same path and query with `locale` replaced.
    fn other_locale_url(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(self.visit.uri.query().unwrap_or("").as_bytes()) {
            if k != "locale" {
                q.append_pair(&k, &v);
            }
        }
        q.append_pair("locale", other_locale(self.visit.locale));
        format!(
            "{}{}?{}",
            self.state.base_path(),
            self.visit.uri.path(),
            q.finish()
        )
    }
}

/// Any serialisable value as a template value.
pub fn ser<T: Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

fn other_locale(locale: &str) -> &'static str {
    if locale == "en" { "zh-CN" } else { "en" }
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
    protect(&mut resp);
    resp
}

/// Console pages hold personal data and one-time secrets: never cached, never framed, no
/// script at all, styles only from the console's own stylesheet. The referrer stays on this
/// site (the browser then sends a real `Origin` with each form, which the guard checks).
pub fn protect(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

/// The console's stylesheet: the common rules, then each page's own.
const STYLESHEET: &str = concat!(
    include_str!("console.css"),
    include_str!("css/articles.css"),
    include_str!("css/sections.css"),
    include_str!("css/schedules.css"),
    include_str!("css/runs.css"),
    include_str!("css/subscribers.css"),
    include_str!("css/sources.css"),
    include_str!("css/settings.css"),
    include_str!("css/returned.css"),
);

/// `GET /admin/assets/console.js`: the console's one script (live run progress), built into
/// the binary; only the pages that use it allow it (`script-src 'self'`), and they work without it.
pub async fn script() -> Response {
    let mut resp = include_str!("console.js").into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `GET /admin/assets/console.css`: the console's one stylesheet, built into the binary.
pub async fn stylesheet() -> Response {
    let mut resp = STYLESHEET.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
