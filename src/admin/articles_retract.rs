//! Retract and restore: `GET /admin/articles/{id}/retract` asks, `POST` takes the article out
//! of feeds and future digests (as `DELETE /api/v1/articles/{id}`); `POST
//! /admin/articles/{id}/restore` sends the stored article through ingest again, which brings
//! it back (and refreshes its feeds).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;

use super::{
    articles_shared::{Desk, audit_summary, id_path, missing},
    page::View,
    session::EditorSession,
};
use crate::{
    articles::{ArticleInput, ImageInput},
    domain::{Audit, AuditKind},
    error::AppError,
};

/// `GET /admin/articles/{id}/retract`: the confirmation page.
pub async fn confirm(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Some(a) = desk.console.store.console_article(&id).await? else {
        return Ok(missing(&desk, &s));
    };
    let view = View::new(&desk.console, &s.visit);
    if a.retracted_at.is_some() {
        return Ok(back(&desk, &id, "retracted"));
    }
    Ok(view.render(
        "admin/articles_retract.html",
        &view.text("articles.retract_title"),
        StatusCode::OK,
        context! {
            title => &a.article.title,
            path => id_path(&id),
            published => view.time(a.article.published_at),
        },
    ))
}

fn back(desk: &Desk, id: &str, saved: &str) -> Response {
    Redirect::to(&format!(
        "{}/articles/{}?saved={saved}",
        desk.console.admin_path(),
        id_path(id)
    ))
    .into_response()
}

/// `POST /admin/articles/{id}/retract`.
#[tracing::instrument(skip_all)]
pub async fn retract(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Some(a) = desk.console.store.console_article(&id).await? else {
        return Ok(missing(&desk, &s));
    };
    if a.retracted_at.is_some() {
        return Ok(back(&desk, &id, "retracted"));
    }
    match desk.ingest.retract(&id).await {
        Ok(()) => {}
        // Retracted meanwhile by someone else: the same end.
        Err(AppError::NotFound(_)) => return Ok(back(&desk, &id, "retracted")),
        Err(e) => return Err(e),
    }
    let view = View::new(&desk.console, &s.visit);
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::ArticleRetract,
        &format!("article {id}"),
        Some(&s.visit.client),
    )
    .change(
        Some(audit_summary(&view, &a.article)),
        Some("retracted".into()),
    );
    desk.console
        .store
        .record_audit(&audit, desk.console.now_ms())
        .await?;
    tracing::info!(id, "article retracted in the console");
    Ok(back(&desk, &id, "retracted"))
}

/// `POST /admin/articles/{id}/restore`.
#[tracing::instrument(skip_all)]
pub async fn restore(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Some(stored) = desk.console.store.console_article(&id).await? else {
        return Ok(missing(&desk, &s));
    };
    if stored.retracted_at.is_none() {
        return Ok(back(&desk, &id, "restored"));
    }
    let a = stored.article;
    // The stored article exactly as it was (its HTML is already clean; cleaning it again
    // changes nothing), through the one ingest path.
    let input = ArticleInput {
        id: None,
        section: Some(a.section.clone()),
        title: Some(a.title.clone()),
        url: Some(a.url.clone()),
        content_html: Some(a.content_html.clone()),
        content_markdown: None,
        summary: Some(a.summary.clone()),
        author: a.author.clone(),
        image: a.image.clone().map(|i| ImageInput {
            url: i.url,
            caption: i.caption,
        }),
        tags: Some(a.tags.clone()),
        published_at: Some(a.published_at.to_rfc3339()),
        updated_at: a.updated_at.map(|t| t.to_rfc3339()),
    };
    desk.ingest.put(&id, input, &a.source).await?;
    let view = View::new(&desk.console, &s.visit);
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::ArticleRestore,
        &format!("article {id}"),
        Some(&s.visit.client),
    )
    .change(Some("retracted".into()), Some(audit_summary(&view, &a)));
    desk.console
        .store
        .record_audit(&audit, desk.console.now_ms())
        .await?;
    tracing::info!(id, "article restored in the console");
    Ok(back(&desk, &id, "restored"))
}
