//! The section form: `GET|POST /admin/sections/new` and `GET|POST /admin/sections/{slug}`.
//! A title and description per locale (zh-CN, en); the site language's texts are also the
//! section's own `title`/`description`, which public pages and feeds show.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    articles_shared::{Desk, Errors},
    page::{Notice, View, ser},
    session::EditorSession,
};
use crate::{
    domain::{Audit, AuditKind, SectionSlug, check_text},
    error::AppError,
    events::Change,
    mail::templates::LOCALES,
    store::SectionTexts,
    subscriptions::supported,
};

/// Longest title and description, in characters (as the API).
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 2000;

/// The fields of the section form, as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SectionForm {
    slug: String,
    title_zh: String,
    title_en: String,
    description_zh: String,
    description_en: String,
}

impl SectionForm {
    fn title(&self, locale: &str) -> &str {
        if locale == "en" {
            &self.title_en
        } else {
            &self.title_zh
        }
    }

    fn description(&self, locale: &str) -> &str {
        if locale == "en" {
            &self.description_en
        } else {
            &self.description_zh
        }
    }
}

/// The locale whose texts are the section's own title and description.
fn default_locale(desk: &Desk) -> &'static str {
    supported(&desk.console.config.site.language).unwrap_or(LOCALES[0])
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The texts typed, checked; errors by field.
fn parse(desk: &Desk, view: &View, f: &SectionForm, new: bool) -> Result<SectionTexts, Errors> {
    let mut errors = Errors::new();
    if new && SectionSlug::parse(f.slug.trim()).is_err() {
        errors.insert("slug", view.text("sections.errors.slug"));
    }
    let default = default_locale(desk);
    let mut texts = SectionTexts::default();
    for locale in LOCALES {
        let zh = *locale == "zh-CN";
        let (tf, df) = if zh {
            ("title_zh", "description_zh")
        } else {
            ("title_en", "description_en")
        };
        let title = one_line(f.title(locale));
        let description = f.description(locale).trim().to_owned();
        if title.is_empty() {
            if *locale == default {
                errors.insert(tf, view.text("sections.errors.title_empty"));
            } else if !description.is_empty() {
                errors.insert(tf, view.text("sections.errors.title_for_description"));
            }
        } else if title.chars().count() > MAX_TITLE || check_text(&title).is_err() {
            errors.insert(tf, view.text("sections.errors.title_long"));
        }
        if description.chars().count() > MAX_DESCRIPTION || check_text(&description).is_err() {
            errors.insert(df, view.text("sections.errors.description_long"));
        }
        if !title.is_empty() {
            texts.titles.insert((*locale).to_owned(), title);
        }
        if !description.is_empty() {
            texts.descriptions.insert((*locale).to_owned(), description);
        }
    }
    if errors.is_empty() {
        Ok(texts)
    } else {
        Err(errors)
    }
}

/// "zh-CN 工会要闻 / en Union news": the audit log's summary of a section's texts.
fn summary(t: &SectionTexts) -> String {
    t.titles
        .iter()
        .map(|(l, title)| format!("{l} {title}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

async fn render(
    desk: &Desk,
    s: &EditorSession,
    status: StatusCode,
    f: &SectionForm,
    new: bool,
    errors: Errors,
) -> Response {
    let view = View::new(&desk.console, &s.visit);
    let admin = desk.console.admin_path();
    let (title, action) = if new {
        (
            view.text("sections.new_title"),
            format!("{admin}/sections/new"),
        )
    } else {
        (
            view.text("sections.edit_title"),
            format!("{admin}/sections/{}", f.slug),
        )
    };
    view.render(
        "admin/sections_form.html",
        &title,
        status,
        context! {
            f => ser(f),
            errors => ser(&errors),
            new => new,
            action => action,
            default_locale => default_locale(desk),
        },
    )
}

/// `GET /admin/sections/new`.
pub async fn new(State(desk): State<Desk>, s: EditorSession) -> Response {
    render(
        &desk,
        &s,
        StatusCode::OK,
        &SectionForm::default(),
        true,
        Errors::new(),
    )
    .await
}

/// The form of a stored section.
async fn form_of(desk: &Desk, slug: &str) -> Result<Option<(SectionForm, SectionTexts)>, AppError> {
    let Some(section) = desk.console.store.get_section(slug).await? else {
        return Ok(None);
    };
    let mut texts = (desk.console.store.section_texts().await?)
        .remove(slug)
        .unwrap_or_default();
    let default = default_locale(desk);
    texts
        .titles
        .insert(default.to_owned(), section.title.clone());
    if !section.description.is_empty() {
        texts
            .descriptions
            .insert(default.to_owned(), section.description.clone());
    }
    let get = |m: &std::collections::BTreeMap<String, String>, l: &str| {
        m.get(l).cloned().unwrap_or_default()
    };
    let f = SectionForm {
        slug: section.slug,
        title_zh: get(&texts.titles, "zh-CN"),
        title_en: get(&texts.titles, "en"),
        description_zh: get(&texts.descriptions, "zh-CN"),
        description_en: get(&texts.descriptions, "en"),
    };
    Ok(Some((f, texts)))
}

fn no_section(desk: &Desk, s: &EditorSession) -> Response {
    let view = View::new(&desk.console, &s.visit);
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(view.text("sections.missing"), Vec::new()).link(
            format!("{}/sections", desk.console.admin_path()),
            view.text("sections.back"),
        ),
    )
}

/// `GET /admin/sections/{slug}`.
pub async fn edit(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    match form_of(&desk, &slug).await? {
        Some((f, _)) => Ok(render(&desk, &s, StatusCode::OK, &f, false, Errors::new()).await),
        None => Ok(no_section(&desk, &s)),
    }
}

/// Stores the section and its texts, records the change and tells the feeds.
async fn store(
    desk: &Desk,
    s: &EditorSession,
    slug: &str,
    texts: &SectionTexts,
    before: Option<&SectionTexts>,
) -> Result<(), AppError> {
    let default = default_locale(desk);
    let title = texts.titles.get(default).cloned().unwrap_or_default();
    let description = texts.descriptions.get(default).cloned().unwrap_or_default();
    let now = desk.console.now_ms();
    desk.console
        .store
        .put_section(slug, &title, &description, now)
        .await?;
    let kind = if before.is_some() {
        AuditKind::SectionEdit
    } else {
        AuditKind::SectionCreate
    };
    let audit = Audit::new(
        &s.me.account.email,
        kind,
        &format!("section {slug}"),
        Some(&s.visit.client),
    )
    .change(before.map(summary), Some(summary(texts)));
    desk.console
        .store
        .put_section_texts(slug, texts, Some(&audit), now)
        .await?;
    desk.events.publish(Change::Sections(vec![slug.to_owned()]));
    Ok(())
}

/// `POST /admin/sections/new`.
#[tracing::instrument(skip_all)]
pub async fn create(
    State(desk): State<Desk>,
    s: EditorSession,
    Form(mut f): Form<SectionForm>,
) -> Result<Response, AppError> {
    let view = View::new(&desk.console, &s.visit);
    f.slug = f.slug.trim().to_owned();
    let mut parsed = parse(&desk, &view, &f, true);
    if parsed.is_ok() && desk.console.store.get_section(&f.slug).await?.is_some() {
        parsed = Err(Errors::from([(
            "slug",
            view.text("sections.errors.slug_taken"),
        )]));
    }
    let texts = match parsed {
        Ok(t) => t,
        Err(errors) => {
            return Ok(render(
                &desk,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
                true,
                errors,
            )
            .await);
        }
    };
    store(&desk, &s, &f.slug, &texts, None).await?;
    Ok(Redirect::to(&format!(
        "{}/sections?saved=created",
        desk.console.admin_path()
    ))
    .into_response())
}

/// `POST /admin/sections/{slug}`.
#[tracing::instrument(skip_all)]
pub async fn save(
    State(desk): State<Desk>,
    s: EditorSession,
    Path(slug): Path<String>,
    Form(mut f): Form<SectionForm>,
) -> Result<Response, AppError> {
    let Some((_, before)) = form_of(&desk, &slug).await? else {
        return Ok(no_section(&desk, &s));
    };
    let view = View::new(&desk.console, &s.visit);
    f.slug = slug.clone();
    let texts = match parse(&desk, &view, &f, false) {
        Ok(t) => t,
        Err(errors) => {
            return Ok(render(
                &desk,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
                false,
                errors,
            )
            .await);
        }
    };
    if texts != before {
        store(&desk, &s, &slug, &texts, Some(&before)).await?;
    }
    Ok(Redirect::to(&format!(
        "{}/sections?saved=updated",
        desk.console.admin_path()
    ))
    .into_response())
}
