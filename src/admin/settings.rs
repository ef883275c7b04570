//! `GET /admin/settings` (admins): the site's branding (title, footer text, sender name and
//! postal address in each language; logo URL and accent colour), stored in the database over the config
//! defaults; `POST /admin/settings` saves it (errors shown in place, nothing saved then).
//! `GET /admin/settings/accent.css` is the accent colour as a stylesheet, so the console
//! shows it without inline styles (its CSP allows styles only from this site).

use std::collections::BTreeMap;

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    Route,
    page::{View, ser},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    branding::{ACCENT_KEY, LOCALES, LOGO_KEY, TEXT_KEYS},
    domain::{Audit, AuditKind},
    error::AppError,
};

/// Longest value of each text setting, in characters.
const MAX_CHARS: &[(&str, usize)] = &[
    ("title", 100),
    ("footer", 500),
    ("sender_name", 60),
    ("address", 200),
];
/// Longest logo URL.
const MAX_URL_CHARS: usize = 500;

/// Routes of this page open to editors (and admins): the accent stylesheet, which every
/// console page links (the login page too).
pub(super) fn editor_routes() -> Vec<Route> {
    vec![Route::get("/admin/settings/accent.css", accent_css)]
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/settings", show),
        Route::post("/admin/settings", save),
    ]
}

/// `GET /admin/settings/accent.css`.
pub async fn accent_css(State(state): State<ConsoleState>) -> Response {
    let css = match state.branding.accent() {
        Some(a) => format!(
            ":root {{ --accent: {a}; --accent-dark: {}; }}\n",
            darker(&a)
        ),
        None => String::new(),
    };
    let mut resp = css.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    // The URL changes with the colour.
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

/// `#rrggbb` darkened by a quarter (the hover colour of buttons).
fn darker(hex: &str) -> String {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
    let part = |shift: u32| ((v >> shift) & 0xff) * 3 / 4;
    format!("#{:02x}{:02x}{:02x}", part(16), part(8), part(0))
}

/// One field of the form.
#[derive(Serialize)]
struct Field {
    /// The form field's name and the setting's key.
    key: String,
    /// `title`, `footer`, … (the label's key).
    name: &'static str,
    locale: Option<&'static str>,
    value: String,
    /// What an empty field means.
    default: String,
    max: usize,
    error: Option<String>,
}

/// Every key of the form, in display order.
fn keys() -> Vec<(String, &'static str, Option<&'static str>)> {
    let mut out = Vec::new();
    for name in TEXT_KEYS {
        for locale in LOCALES {
            out.push((format!("{name}.{locale}"), name, Some(locale)));
        }
    }
    out.push((LOGO_KEY.to_owned(), LOGO_KEY, None));
    out.push((ACCENT_KEY.to_owned(), ACCENT_KEY, None));
    out
}

fn max_chars(name: &str) -> usize {
    MAX_CHARS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(MAX_URL_CHARS, |(_, m)| *m)
}

/// What an empty field stands for.
fn default_of(state: &ConsoleState, name: &str) -> String {
    match name {
        "title" => state.config.site.title.clone(),
        "sender_name" => crate::domain::parse_mailbox(&state.config.mail.from)
            .ok()
            .and_then(|(n, _)| n)
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The page's query: `?saved=1` after a save.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /admin/settings`.
pub async fn show(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(q): Query<Saved>,
) -> Result<Response, AppError> {
    state.branding.reload().await;
    let stored = state.branding.values();
    let values: BTreeMap<String, String> = keys()
        .into_iter()
        .map(|(k, _, _)| {
            let v = stored.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect();
    Ok(page(
        &state,
        &s,
        StatusCode::OK,
        &values,
        &BTreeMap::new(),
        q.saved.is_some(),
    ))
}

fn page(
    state: &ConsoleState,
    s: &AdminSession,
    status: StatusCode,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
    saved: bool,
) -> Response {
    let view = View::new(state, &s.visit);
    let fields: Vec<Field> = keys()
        .into_iter()
        .map(|(key, name, locale)| Field {
            value: values.get(&key).cloned().unwrap_or_default(),
            error: errors.get(&key).cloned(),
            default: default_of(state, name),
            max: max_chars(name),
            key,
            name,
            locale,
        })
        .collect();
    view.render(
        "admin/settings.html",
        &view.text("settings.title"),
        status,
        context! {
            fields => ser(&fields),
            errors => !errors.is_empty(),
            saved => saved,
        },
    )
}

/// Why a value is refused: the key of its message under `settings.errors`.
fn check(name: &str, value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return None;
    }
    if value.chars().count() > max_chars(name) {
        return Some("too_long");
    }
    if value.chars().any(char::is_control) {
        return Some("control");
    }
    match name {
        LOGO_KEY => match url::Url::parse(value) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
                    && u.username().is_empty()
                    && u.password().is_none() =>
            {
                None
            }
            _ => Some("url"),
        },
        ACCENT_KEY => {
            let hex = value.strip_prefix('#').unwrap_or("");
            (hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit())).then_some("colour")
        }
        _ => None,
    }
}

/// What a value is in the audit log: quoted, or "(default)".
fn shown(v: Option<&String>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "(default)".to_owned(),
    }
}

/// `POST /admin/settings`.
#[tracing::instrument(skip_all)]
pub async fn save(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let mut values = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (key, name, _) in keys() {
        let raw = form.get(&key).map(String::as_str).unwrap_or("");
        // A footer or address typed on several lines is one line of the page.
        let value = if name == "footer" || name == "address" {
            raw.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            raw.trim().to_owned()
        };
        let value = if name == ACCENT_KEY {
            value.to_ascii_lowercase()
        } else {
            value
        };
        if let Some(problem) = check(name, &value) {
            let message = view
                .text(&format!("settings.errors.{problem}"))
                .replace("{max}", &max_chars(name).to_string());
            errors.insert(key.clone(), message);
        }
        values.insert(key, value);
    }
    if !errors.is_empty() {
        return Ok(page(
            &state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            &values,
            &errors,
            false,
        ));
    }
    let stored = state.store.site_settings().await?;
    let stored: BTreeMap<String, String> = stored.into_iter().collect();
    let mut changes = Vec::new();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for (key, value) in &values {
        let new = (!value.is_empty()).then(|| value.clone());
        let old = stored.get(key);
        if old != new.as_ref() {
            before.push(format!("{key}: {}", shown(old)));
            after.push(format!("{key}: {}", shown(new.as_ref())));
            changes.push((key.clone(), new));
        }
    }
    if !changes.is_empty() {
        let audit = Audit::new(
            &s.me.account.email,
            AuditKind::SettingsChange,
            "site settings",
            Some(&s.visit.client),
        )
        .change(Some(before.join("; ")), Some(after.join("; ")));
        state
            .store
            .save_site_settings(&changes, &audit, state.now_ms())
            .await?;
        state.branding.reload().await;
        tracing::info!(changed = changes.len(), "site settings saved");
    }
    Ok(Redirect::to(&format!("{}/settings?saved=1", state.admin_path())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_urls_and_lengths_are_checked() {
        assert_eq!(check(ACCENT_KEY, "#1a2b3c"), None);
        assert_eq!(check(ACCENT_KEY, ""), None);
        for bad in [
            "red",
            "#12345",
            "#1234567",
            "1a2b3c",
            "#ggghhh",
            "#1a2b3c;}",
        ] {
            assert_eq!(check(ACCENT_KEY, bad), Some("colour"), "{bad}");
        }
        assert_eq!(check(LOGO_KEY, "https://example.org/logo.png"), None);
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "/logo.png",
            "https://user:pw@example.org/x.png",
        ] {
            assert_eq!(check(LOGO_KEY, bad), Some("url"), "{bad}");
        }
        assert_eq!(check("title", &"长".repeat(101)), Some("too_long"));
        assert_eq!(check("sender_name", "a\u{7}b"), Some("control"));
        assert_eq!(check("address", &"路".repeat(200)), None);
        assert_eq!(check("address", &"路".repeat(201)), Some("too_long"));
        assert_eq!(darker("#b71c1c"), "#891515");
    }
}
