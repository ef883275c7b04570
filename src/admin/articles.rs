//! Console pages: articles. `GET /admin/articles` lists them (title search, section and
//! status filters, keyset paging); the form ([`articles_form`](super::articles_form)) creates
//! and edits them through the publishing API's ingest, the preview shows what feeds and mail
//! will carry, and retract/restore take an article out of feeds and digests and back.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    Route, articles_form, articles_retract,
    articles_shared::{Desk, id_path, section_options, status_of},
    page::{View, ser},
    session::EditorSession,
};
use crate::{
    error::AppError,
    store::{ArticleCursor, ArticleFilter, ArticleShown},
};

/// Articles per page of the list.
const PAGE: u32 = 50;
/// Longest title search, in characters.
const MAX_SEARCH: usize = 200;

/// Routes of this page open to editors (and admins).
pub(super) fn editor_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/articles", list),
        Route::get("/admin/articles/new", articles_form::new),
        Route::post("/admin/articles/new", articles_form::create),
        Route::post("/admin/articles/preview", super::articles_preview::preview),
        Route::get("/admin/articles/{id}", articles_form::edit),
        Route::post("/admin/articles/{id}", articles_form::save),
        Route::get("/admin/articles/{id}/retract", articles_retract::confirm),
        Route::post("/admin/articles/{id}/retract", articles_retract::retract),
        Route::post("/admin/articles/{id}/restore", articles_retract::restore),
    ]
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    Vec::new()
}

/// Query of the list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    section: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

#[derive(Serialize)]
struct Row {
    id: String,
    path: String,
    title: String,
    section: String,
    status: &'static str,
    published: String,
    author: Option<String>,
    image: bool,
}

#[derive(Serialize)]
struct SectionOption {
    slug: String,
    title: String,
}

/// `GET /admin/articles?q=&section=&status=&cursor=`.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(desk): State<Desk>,
    s: EditorSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let view = View::new(&desk.console, &s.visit);
    let now = desk.console.clock.now();
    let options = section_options(&desk, s.visit.locale).await?;
    let search: String = q.q.trim().chars().take(MAX_SEARCH).collect();
    let section = options
        .iter()
        .find(|(slug, _)| *slug == q.section)
        .map(|(slug, _)| slug.clone());
    let shown = match q.status.as_str() {
        "published" => Some(ArticleShown::Published),
        "scheduled" => Some(ArticleShown::Scheduled),
        "retracted" => Some(ArticleShown::Retracted),
        _ => None,
    };
    // A cursor not given out by this page starts from the newest.
    let cursor = ArticleCursor::decode(&q.cursor);
    let filter = ArticleFilter {
        title: (!search.is_empty()).then(|| search.clone()),
        section: section.clone(),
        shown,
    };
    let page = desk
        .console
        .store
        .console_articles(&filter, now, PAGE, cursor.as_ref())
        .await?;
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|a| Row {
            path: id_path(&a.article.id),
            status: status_of(a, now),
            published: view.time(a.article.published_at),
            section: options
                .iter()
                .find(|(slug, _)| *slug == a.article.section)
                .map_or_else(|| a.article.section.clone(), |(_, t)| t.clone()),
            author: a.article.author.clone(),
            image: a.article.image.is_some(),
            title: a.article.title.clone(),
            id: a.article.id.clone(),
        })
        .collect();
    let link = |cursor: Option<&ArticleCursor>| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", search.as_str()),
            ("section", section.as_deref().unwrap_or("")),
            ("status", shown.map_or("", |_| q.status.as_str())),
        ] {
            if !v.is_empty() {
                ser.append_pair(k, v);
            }
        }
        if let Some(c) = cursor {
            ser.append_pair("cursor", &c.encode());
        }
        let query = ser.finish();
        let base = format!("{}/articles", desk.console.admin_path());
        if query.is_empty() {
            base
        } else {
            format!("{base}?{query}")
        }
    };
    let options: Vec<SectionOption> = options
        .into_iter()
        .map(|(slug, title)| SectionOption { slug, title })
        .collect();
    let next_url = page.next.as_ref().map(|c| link(Some(c)));
    let first_url = cursor.is_some().then(|| link(None));
    Ok(view.render(
        "admin/articles_list.html",
        &view.text("articles.title"),
        StatusCode::OK,
        context! {
            rows => ser(&rows),
            sections => ser(&options),
            statuses => ser(&["published", "scheduled", "retracted"]),
            q => search,
            section => section.unwrap_or_default(),
            status => shown.map_or("", |_| q.status.as_str()),
            filtered => filter.title.is_some() || filter.section.is_some() || shown.is_some(),
            next_url => next_url,
            first_url => first_url,
        },
    ))
}
