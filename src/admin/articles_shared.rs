//! What the article and section pages share: their state ([`Desk`]), section titles per
//! locale, article ids in paths, form errors and the audit summary of an article.

use std::{collections::BTreeMap, sync::Arc};

use axum::{extract::FromRef, http::StatusCode, response::Response};

use super::{
    page::{Notice, View},
    session::EditorSession,
    state::ConsoleState,
};
use crate::{
    AppState,
    articles::{Article, Ingest},
    digests::compose::Composer,
    domain::Section,
    error::AppError,
    events::Events,
    feeds::Site,
    store::{ConsoleArticle, SectionTexts},
};

/// What the article and section pages use: the console's state, plus the publishing path
/// (ingest), change events, the feeds' site and the digest renderer.
#[derive(Clone)]
pub struct Desk {
    pub console: ConsoleState,
    pub ingest: Ingest,
    pub events: Events,
    pub site: Site,
    pub composer: Arc<Composer>,
}

impl FromRef<AppState> for Desk {
    fn from_ref(app: &AppState) -> Self {
        Self {
            console: ConsoleState::from_ref(app),
            ingest: app.ingest.clone(),
            events: app.events.clone(),
            site: app.feeds.site().clone(),
            composer: app.digests.composer.clone(),
        }
    }
}

/// An article's status as the console shows it.
pub fn status_of(a: &ConsoleArticle, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    if a.retracted_at.is_some() {
        "retracted"
    } else if a.article.published_at > now {
        "scheduled"
    } else {
        "published"
    }
}

/// `id` as one path segment (ids may hold `/`).
pub fn id_path(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// A section's title in the page's language (its per-locale text, else its own title).
pub fn section_title(
    sections: &[Section],
    texts: &BTreeMap<String, SectionTexts>,
    slug: &str,
    locale: &str,
) -> String {
    texts
        .get(slug)
        .and_then(|t| t.titles.get(locale))
        .cloned()
        .or_else(|| {
            sections
                .iter()
                .find(|s| s.slug == slug)
                .map(|s| s.title.clone())
        })
        .unwrap_or_else(|| slug.to_owned())
}

/// One line of the audit log about an article: title, section and publication time.
pub fn audit_summary(view: &View, a: &Article) -> String {
    format!(
        "{} · {} · {}",
        a.title,
        a.section,
        view.time(a.published_at)
    )
}

/// Sections as the options of a select, in display order, titled in the page's language.
pub async fn section_options(desk: &Desk, locale: &str) -> Result<Vec<(String, String)>, AppError> {
    let sections = desk.console.store.list_sections().await?;
    let texts = desk.console.store.section_texts().await?;
    Ok(sections
        .iter()
        .map(|s| {
            (
                s.slug.clone(),
                section_title(&sections, &texts, &s.slug, locale),
            )
        })
        .collect())
}

/// Problems of a form, by field name, in the page's language.
pub type Errors = BTreeMap<&'static str, String>;

/// The form field an ingest error is about, and its message; `None` for other errors.
pub fn ingest_error(e: &AppError) -> Option<(&'static str, String)> {
    let AppError::Invalid { message, field } = e else {
        return None;
    };
    let field = match field.as_deref().unwrap_or("") {
        "id" => "id",
        "section" => "section",
        "title" => "title",
        "url" => "url",
        "content_html" | "content_markdown" => "body",
        "summary" => "summary",
        "author" => "author",
        "image.url" => "image_url",
        "image.caption" => "image_caption",
        "tags" => "tags",
        "published_at" => "published",
        _ => "body",
    };
    Some((field, message.clone()))
}

/// The 404 page for an id that names no article.
pub fn missing(desk: &Desk, s: &EditorSession) -> Response {
    let view = View::new(&desk.console, &s.visit);
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(view.text("articles.missing"), Vec::new()).link(
            format!("{}/articles", desk.console.admin_path()),
            view.text("articles.back"),
        ),
    )
}
