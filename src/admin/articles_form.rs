//! The article form: `GET|POST /admin/articles/new`, `GET|POST /admin/articles/{id}` and
//! `POST /admin/articles/preview`. What is typed becomes the publishing API's
//! [`ArticleInput`] and goes through the same [`Ingest`](crate::articles::Ingest) (sanitising,
//! summary, feed refresh, events); the form only checks what it can say better in the page's
//! language first, and shows every problem next to its field, keeping what was typed.

#[path = "articles_form_input.rs"]
mod input;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
pub(super) use input::parse;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::{
    articles_shared::{
        Desk, Errors, audit_summary, id_path, ingest_error, missing, section_options, status_of,
    },
    page::{View, ser},
    session::EditorSession,
};
use crate::{
    articles::{ArticleInput, ImageInput, summary_of},
    domain::{Audit, AuditKind},
    error::AppError,
    store::{ConsoleArticle, PutResult},
};

/// Longest id, as the API allows.
const MAX_ID: usize = 200;
/// The formats a `datetime-local` field (or a person typing) gives.
const TIME_FORMATS: &[&str] = &["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"];

/// The fields of the article form, as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ArticleForm {
    pub id: String,
    pub title: String,
    pub section: String,
    /// `markdown` or `html`.
    pub format: String,
    pub body: String,
    pub summary: String,
    pub url: String,
    pub image_url: String,
    pub image_caption: String,
    /// Separated by commas (`,` or `，`).
    pub tags: String,
    pub author: String,
    /// Wall-clock time in the site's zone, `2026-03-01T08:00`.
    pub published: String,
    /// `new` or `edit`: which form a preview came from.
    pub mode: String,
}

/// Whether the form creates an article or edits one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    New,
    Edit,
}

/// `at` on the site's wall clock, as a `datetime-local` value.
fn local_value(desk: &Desk, at: DateTime<Utc>) -> String {
    at.with_timezone(&desk.console.config.site_timezone().0)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The form of a stored article.
fn form_of(desk: &Desk, a: &crate::articles::Article) -> ArticleForm {
    let derived = summary_of(&a.content_html);
    ArticleForm {
        id: a.id.clone(),
        title: a.title.clone(),
        section: a.section.clone(),
        format: "html".into(),
        body: a.content_html.clone(),
        // A summary derived from the text is derived again from the edited text.
        summary: if a.summary == derived {
            String::new()
        } else {
            a.summary.clone()
        },
        url: a.url.clone(),
        image_url: a.image.as_ref().map(|i| i.url.clone()).unwrap_or_default(),
        image_caption: (a.image.as_ref().and_then(|i| i.caption.clone())).unwrap_or_default(),
        tags: a.tags.join(", "),
        author: a.author.clone().unwrap_or_default(),
        published: local_value(desk, a.published_at),
        mode: "edit".into(),
    }
}

/// What the form page shows besides the form.
#[derive(Default)]
pub struct Extras {
    pub errors: Errors,
    pub stored: Option<ConsoleArticle>,
    pub preview: Option<Value>,
    pub saved: Option<String>,
}

/// Renders the form page.
pub async fn render(
    desk: &Desk,
    s: &EditorSession,
    status: StatusCode,
    f: &ArticleForm,
    mode: Mode,
    extras: Extras,
) -> Result<Response, AppError> {
    let view = View::new(&desk.console, &s.visit);
    let admin = desk.console.admin_path();
    let sections: Vec<Value> = section_options(desk, s.visit.locale)
        .await?
        .into_iter()
        .map(|(slug, title)| context! { slug, title })
        .collect();
    let now = desk.console.clock.now();
    let (title, action) = match mode {
        Mode::New => (
            view.text("articles.new_title"),
            format!("{admin}/articles/new"),
        ),
        Mode::Edit => (
            view.text("articles.edit_title"),
            format!("{admin}/articles/{}", id_path(f.id.trim())),
        ),
    };
    let stored = extras.stored.as_ref().map(|a| {
        context! {
            status => status_of(a, now),
            path => id_path(&a.article.id),
            title => &a.article.title,
            published => view.time(a.article.published_at),
            retracted => a.retracted_at.map(|t| view.time(t)),
        }
    });
    let has_preview = extras.preview.is_some();
    let mut resp = view.render(
        "admin/articles_form.html",
        &title,
        status,
        context! {
            f => ser(f),
            errors => ser(&extras.errors),
            sections => sections,
            mode => if mode == Mode::New { "new" } else { "edit" },
            action => action,
            stored => stored,
            preview => extras.preview,
            saved => extras.saved,
            zone => &desk.console.config.site.timezone,
        },
    );
    if has_preview {
        // The preview shows the article's pictures, which live on the publisher's site.
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data: https: http:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    Ok(resp)
}

/// A fresh id: the date and a few random letters (`20260301-k3q9`).
fn suggested_id(desk: &Desk) -> String {
    use rand::Rng;
    let date = desk
        .console
        .clock
        .now()
        .with_timezone(&desk.console.config.site_timezone().0)
        .format("%Y%m%d");
    let mut rng = rand::thread_rng();
    let tail: String = (0..4)
        .map(|_| char::from(b"abcdefghjkmnpqrstuvwxyz23456789"[rng.gen_range(0..31)]))
        .collect();
    format!("{date}-{tail}")
}

/// `GET /admin/articles/new`.
pub async fn new(State(desk): State<Desk>, s: EditorSession) -> Result<Response, AppError> {
    let sections = section_options(&desk, s.visit.locale).await?;
    let f = ArticleForm {
        id: suggested_id(&desk),
        section: sections
            .first()
            .map(|(slug, _)| slug.clone())
            .unwrap_or_default(),
        format: "markdown".into(),
        url: desk
            .console
            .config
            .site
            .base_url
            .trim_end_matches('/')
            .to_owned()
            + "/",
        published: local_value(&desk, desk.console.clock.now()),
        mode: "new".into(),
        ..ArticleForm::default()
    };
    render(&desk, &s, StatusCode::OK, &f, Mode::New, Extras::default()).await
}

/// `POST /admin/articles/new`: creates the article through ingest.
#[tracing::instrument(skip_all)]
pub async fn create(
    State(desk): State<Desk>,
    s: EditorSession,
    Form(mut f): Form<ArticleForm>,
) -> Result<Response, AppError> {
    f.mode = "new".into();
    let view = View::new(&desk.console, &s.visit);
    let sections = section_options(&desk, s.visit.locale).await?;
    let id = f.id.trim().to_owned();
    let mut input = parse(&desk, &view, &f, Mode::New, &sections);
    if let Ok(_) = &input
        && desk.console.store.console_article(&id).await?.is_some()
    {
        // PUT would replace (or revive) it: a new article must not overwrite another.
        input = Err(Errors::from([(
            "id",
            view.text("articles.errors.id_taken"),
        )]));
    }
    let outcome = match input {
        Ok(input) => desk.ingest.put(&id, input, "console").await,
        Err(errors) => return refuse(&desk, &s, &f, Mode::New, errors, None).await,
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => match ingest_error(&e) {
            Some((field, message)) => {
                let errors = Errors::from([(field, message)]);
                return refuse(&desk, &s, &f, Mode::New, errors, None).await;
            }
            None => return Err(e),
        },
    };
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::ArticleCreate,
        &format!("article {id}"),
        Some(&s.visit.client),
    )
    .change(None, Some(audit_summary(&view, &outcome.article)));
    desk.console
        .store
        .record_audit(&audit, desk.console.now_ms())
        .await?;
    tracing::info!(id, "article created in the console");
    Ok(Redirect::to(&format!(
        "{}/articles/{}?saved=created",
        desk.console.admin_path(),
        id_path(&id)
    ))
    .into_response())
}

/// The form again with its problems (422), keeping what was typed.
pub async fn refuse(
    desk: &Desk,
    s: &EditorSession,
    f: &ArticleForm,
    mode: Mode,
    errors: Errors,
    stored: Option<ConsoleArticle>,
) -> Result<Response, AppError> {
    let extras = Extras {
        errors,
        stored,
        ..Extras::default()
    };
    render(desk, s, StatusCode::UNPROCESSABLE_ENTITY, f, mode, extras).await
}

/// `?saved=` after a redirect.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: String,
}

/// `GET /admin/articles/{id}`.
pub async fn edit(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(id): Path<String>,
    Query(q): Query<Saved>,
) -> Result<Response, AppError> {
    let Some(stored) = desk.console.store.console_article(&id).await? else {
        return Ok(missing(&desk, &s));
    };
    let view = View::new(&desk.console, &s.visit);
    let f = form_of(&desk, &stored.article);
    let saved = match q.saved.as_str() {
        "created" | "updated" | "unchanged" | "retracted" | "restored" => {
            Some(view.text(&format!("articles.saved.{}", q.saved)))
        }
        _ => None,
    };
    let extras = Extras {
        stored: Some(stored),
        saved,
        ..Extras::default()
    };
    render(&desk, &s, StatusCode::OK, &f, Mode::Edit, extras).await
}

/// `POST /admin/articles/{id}`: saves an edit through ingest.
#[tracing::instrument(skip_all)]
pub async fn save(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(id): Path<String>,
    Form(mut f): Form<ArticleForm>,
) -> Result<Response, AppError> {
    let Some(stored) = desk.console.store.console_article(&id).await? else {
        return Ok(missing(&desk, &s));
    };
    let view = View::new(&desk.console, &s.visit);
    f.id = id.clone();
    f.mode = "edit".into();
    if stored.retracted_at.is_some() {
        // Saving would bring it back into feeds: that is what "restore" is for.
        let errors = Errors::from([("title", view.text("articles.errors.retracted"))]);
        return refuse(&desk, &s, &f, Mode::Edit, errors, Some(stored)).await;
    }
    let sections = section_options(&desk, s.visit.locale).await?;
    let input = match parse(&desk, &view, &f, Mode::Edit, &sections) {
        Ok(i) => i,
        Err(errors) => return refuse(&desk, &s, &f, Mode::Edit, errors, Some(stored)).await,
    };
    let outcome = match desk.ingest.put(&id, input, "console").await {
        Ok(o) => o,
        Err(e) => match ingest_error(&e) {
            Some((field, message)) => {
                let errors = Errors::from([(field, message)]);
                return refuse(&desk, &s, &f, Mode::Edit, errors, Some(stored)).await;
            }
            None => return Err(e),
        },
    };
    let saved = if outcome.result == PutResult::Unchanged {
        "unchanged"
    } else {
        let audit = Audit::new(
            &s.me.account.email,
            AuditKind::ArticleEdit,
            &format!("article {id}"),
            Some(&s.visit.client),
        )
        .change(
            Some(audit_summary(&view, &stored.article)),
            Some(audit_summary(&view, &outcome.article)),
        );
        desk.console
            .store
            .record_audit(&audit, desk.console.now_ms())
            .await?;
        "updated"
    };
    Ok(Redirect::to(&format!(
        "{}/articles/{}?saved={saved}",
        desk.console.admin_path(),
        id_path(&id)
    ))
    .into_response())
}
