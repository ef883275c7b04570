//! The article preview: what typed into the form would become, rendered by the code that
//! feeds and digests use (the feed item built from the sanitised article, and the digest's
//! article block), without storing anything.

use axum::{Form, extract::State, http::StatusCode, response::Response};
use minijinja::{Value, context};

use super::{
    articles_form::{ArticleForm, Extras, Mode, parse, refuse, render},
    articles_shared::{Desk, Errors, ingest_error, missing, section_options},
    page::View,
    session::EditorSession,
};
use crate::{
    articles::{Article, ArticleInput},
    error::AppError,
    feeds::doc::FeedDoc,
};

/// The preview of `input` (validated and sanitised as ingest does), or the problems found.
pub async fn build(
    desk: &Desk,
    view: &View<'_>,
    id: &str,
    input: ArticleInput,
) -> Result<Result<Value, Errors>, AppError> {
    let sections = desk.console.store.list_sections().await?;
    let id = if id.is_empty() { "preview" } else { id };
    let new = match input.into_new_article(id, "console", |slug| {
        sections.iter().any(|s| s.slug == slug)
    }) {
        Ok(a) => a,
        Err(e) => {
            return match ingest_error(&e) {
                Some((field, message)) => Ok(Err(Errors::from([(field, message)]))),
                None => Err(e),
            };
        }
    };
    let now = desk.console.clock.now();
    let article = Article {
        content_hash: new.content_hash(),
        visible_at: new.published_at.max(now),
        created_at: now,
        modified_at: now,
        id: new.id,
        section: new.section,
        title: new.title,
        url: new.url,
        content_html: new.content_html,
        summary: new.summary,
        author: new.author,
        image: new.image,
        tags: new.tags,
        published_at: new.published_at,
        updated_at: new.updated_at,
        source: new.source,
    };
    let Some(section) = sections.iter().find(|s| s.slug == article.section) else {
        return Err(AppError::Internal(anyhow::anyhow!("section vanished")));
    };
    let doc = FeedDoc::new(
        &desk.site,
        &section.slug,
        &section.title,
        &section.description,
        std::slice::from_ref(&article),
        now,
    );
    let Some(item) = doc.items.first() else {
        return Err(AppError::Internal(anyhow::anyhow!("empty preview feed")));
    };
    let digest = desk
        .composer
        .renderer
        .articles_html(view.visit.locale, &sections, &[&article])
        .map_err(AppError::Internal)?;
    Ok(Ok(context! {
        title => &item.title,
        link => &item.link,
        summary => &item.summary,
        // Sanitised on the way in, exactly as the feed item carries it.
        content => Value::from_safe_string(item.content_html.clone()),
        author => &item.author,
        tags => &item.tags,
        image => item.image.as_ref().map(|i| context! { url => &i.url, caption => &i.caption }),
        published => view.time(article.published_at),
        scheduled => article.published_at > now,
        // Rendered by the digest's own template, which escapes what it inserts.
        digest => Value::from_safe_string(digest),
    }))
}

/// `POST /admin/articles/preview`: the form again, with the article as feeds and the digest
/// would show it; nothing is stored.
#[tracing::instrument(skip_all)]
pub async fn preview(
    State(desk): State<Desk>,
    s: EditorSession,
    Form(f): Form<ArticleForm>,
) -> Result<Response, AppError> {
    let mode = if f.mode == "edit" {
        Mode::Edit
    } else {
        Mode::New
    };
    let stored = match mode {
        Mode::Edit => match desk.console.store.console_article(f.id.trim()).await? {
            Some(a) => Some(a),
            None => return Ok(missing(&desk, &s)),
        },
        Mode::New => None,
    };
    let view = View::new(&desk.console, &s.visit);
    let sections = section_options(&desk, s.visit.locale).await?;
    let input = match parse(&desk, &view, &f, mode, &sections) {
        Ok(i) => i,
        Err(errors) => return refuse(&desk, &s, &f, mode, errors, stored).await,
    };
    match build(&desk, &view, f.id.trim(), input).await? {
        Ok(preview) => {
            let extras = Extras {
                stored,
                preview: Some(preview),
                ..Extras::default()
            };
            render(&desk, &s, StatusCode::OK, &f, mode, extras).await
        }
        Err(errors) => refuse(&desk, &s, &f, mode, errors, stored).await,
    }
}
