//! Console pages: sections. `GET /admin/sections` lists them in display order with their
//! article and subscriber counts; move up/down reorders them (`position`), delete removes an
//! empty one (the rule of `DELETE /api/v1/sections/{slug}`), and the form
//! ([`sections_form`](super::sections_form)) creates and edits their texts per locale.
//!
//! Sections from the config file only seed the database: a section missing at start is
//! created, one that exists keeps the title, texts and place given in the console or the API,
//! and a deleted one stays deleted.

use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    Route,
    articles_shared::{Desk, section_title},
    page::{Notice, View, ser},
    sections_form,
    session::EditorSession,
};
use crate::{
    config::SourceConfig,
    domain::{Audit, AuditKind},
    error::AppError,
    events::Change,
    store::SectionDeletion,
};

/// Routes of this page open to editors (and admins).
pub(super) fn editor_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/sections", list),
        Route::get("/admin/sections/new", sections_form::new),
        Route::post("/admin/sections/new", sections_form::create),
        Route::get("/admin/sections/{slug}", sections_form::edit),
        Route::post("/admin/sections/{slug}", sections_form::save),
        Route::post("/admin/sections/{slug}/move", move_section),
        Route::get("/admin/sections/{slug}/delete", confirm_delete),
        Route::post("/admin/sections/{slug}/delete", delete),
    ]
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    Vec::new()
}

#[derive(Serialize)]
struct Row {
    slug: String,
    title: String,
    /// The title in the other language, when it has one.
    other_title: Option<String>,
    description: String,
    articles: i64,
    subscribers: i64,
    first: bool,
    last: bool,
}

/// `?saved=` after a change.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: String,
}

/// `GET /admin/sections`.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(desk): State<Desk>,
    s: EditorSession,
    Query(q): Query<Saved>,
) -> Result<Response, AppError> {
    let view = View::new(&desk.console, &s.visit);
    let store = &desk.console.store;
    let sections = store.list_sections().await?;
    let texts = store.section_texts().await?;
    let figures = store.section_figures().await?;
    let locale = s.visit.locale;
    let other = if locale == "en" { "zh-CN" } else { "en" };
    let n = sections.len();
    let rows: Vec<Row> = sections
        .iter()
        .enumerate()
        .map(|(i, sec)| {
            let t = texts.get(&sec.slug);
            let f = figures.get(&sec.slug).copied().unwrap_or_default();
            Row {
                slug: sec.slug.clone(),
                title: section_title(&sections, &texts, &sec.slug, locale),
                other_title: t.and_then(|t| t.titles.get(other)).cloned(),
                description: t
                    .and_then(|t| t.descriptions.get(locale))
                    .cloned()
                    .unwrap_or_else(|| sec.description.clone()),
                articles: f.articles,
                subscribers: f.subscribers,
                first: i == 0,
                last: i + 1 == n,
            }
        })
        .collect();
    let saved = match q.saved.as_str() {
        "created" | "updated" | "deleted" => {
            Some(view.text(&format!("sections.saved.{}", q.saved)))
        }
        _ => None,
    };
    Ok(view.render(
        "admin/sections_list.html",
        &view.text("sections.title"),
        StatusCode::OK,
        context! { rows => ser(&rows), saved => saved },
    ))
}

/// Fields of the move buttons.
#[derive(Debug, Default, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    direction: String,
}

/// `POST /admin/sections/{slug}/move` `direction=up|down`.
#[tracing::instrument(skip_all)]
pub async fn move_section(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(slug): Path<String>,
    Form(f): Form<MoveForm>,
) -> Result<Response, AppError> {
    let up = match f.direction.as_str() {
        "up" => true,
        "down" => false,
        _ => return Ok(back(&desk, "")),
    };
    let store = &desk.console.store;
    let before: Vec<String> = (store.list_sections().await?.into_iter())
        .map(|s| s.slug)
        .collect();
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::SectionMove,
        &format!("section {slug}"),
        Some(&s.visit.client),
    );
    let i = before.iter().position(|x| *x == slug);
    let mut after = before.clone();
    if let Some(i) = i {
        let j = if up { i.checked_sub(1) } else { Some(i + 1) };
        if let Some(j) = j.filter(|&j| j < after.len()) {
            after.swap(i, j);
        }
    }
    let audit = audit.change(Some(before.join(", ")), Some(after.join(", ")));
    if store
        .move_section(&slug, up, &audit, desk.console.now_ms())
        .await?
    {
        desk.events.publish(Change::Sections(vec![slug.clone()]));
    }
    Ok(back(&desk, &format!("#section-{slug}")))
}

fn back(desk: &Desk, anchor: &str) -> Response {
    Redirect::to(&format!("{}/sections{anchor}", desk.console.admin_path())).into_response()
}

/// Why `slug` cannot be deleted now, in the page's language; `None` when it can.
async fn refusal(desk: &Desk, view: &View<'_>, slug: &str) -> Result<Option<String>, AppError> {
    let source = desk.console.config.sources.iter().find(|s| match s {
        SourceConfig::Web { section, .. } | SourceConfig::Feed { section, .. } => section == slug,
        SourceConfig::Directory { .. } => false,
    });
    if let Some(source) = source {
        return Ok(Some(
            view.text("sections.delete_source")
                .replace("{source}", &source.name()),
        ));
    }
    let figures = desk.console.store.section_figures().await?;
    let n = figures.get(slug).map_or(0, |f| f.articles);
    Ok((n > 0).then(|| {
        view.text(if n == 1 {
            "sections.delete_articles_one"
        } else {
            "sections.delete_articles"
        })
        .replace("{n}", &n.to_string())
    }))
}

fn no_section(desk: &Desk, view: &View) -> Response {
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(view.text("sections.missing"), Vec::new()).link(
            format!("{}/sections", desk.console.admin_path()),
            view.text("sections.back"),
        ),
    )
}

/// `GET /admin/sections/{slug}/delete`: asks, or says why it cannot be deleted.
pub async fn confirm_delete(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let view = View::new(&desk.console, &s.visit);
    let Some(section) = desk.console.store.get_section(&slug).await? else {
        return Ok(no_section(&desk, &view));
    };
    let why = refusal(&desk, &view, &slug).await?;
    Ok(view.render(
        "admin/sections_delete.html",
        &view.text("sections.delete_title"),
        if why.is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        },
        context! { slug => &section.slug, title => &section.title, why => why },
    ))
}

/// `POST /admin/sections/{slug}/delete`: deletes an empty section; otherwise the page says why.
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let view = View::new(&desk.console, &s.visit);
    let Some(section) = desk.console.store.get_section(&slug).await? else {
        return Ok(no_section(&desk, &view));
    };
    let mut why = refusal(&desk, &view, &slug).await?;
    if why.is_none() {
        match desk
            .console
            .store
            .delete_section(&slug, desk.console.now_ms())
            .await?
        {
            SectionDeletion::Deleted => {
                let audit = Audit::new(
                    &s.me.account.email,
                    AuditKind::SectionDelete,
                    &format!("section {slug}"),
                    Some(&s.visit.client),
                )
                .change(Some(section.title.clone()), None);
                desk.console
                    .store
                    .record_audit(&audit, desk.console.now_ms())
                    .await?;
                desk.events.publish(Change::Sections(vec![slug.clone()]));
                tracing::info!(section = %slug, "section deleted in the console");
                return Ok(Redirect::to(&format!(
                    "{}/sections?saved=deleted",
                    desk.console.admin_path()
                ))
                .into_response());
            }
            SectionDeletion::Missing => return Ok(no_section(&desk, &view)),
            // An article arrived between the check and the delete.
            SectionDeletion::HasArticles(n) => {
                why = Some(
                    view.text("sections.delete_articles")
                        .replace("{n}", &n.to_string()),
                );
            }
        }
    }
    Ok(view.render(
        "admin/sections_delete.html",
        &view.text("sections.delete_title"),
        StatusCode::CONFLICT,
        context! { slug => &section.slug, title => &section.title, why => why },
    ))
}
