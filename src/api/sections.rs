//! Admin API for sections: list, read, create or edit, delete.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::{
    ApiState, JsonBody,
    auth::{Admin, Publisher},
    unknown::unknown_section,
};
use crate::{
    config::SourceConfig,
    domain::{Section, SectionSlug, check_text},
    error::AppError,
    events::Change,
    mail::templates::LOCALES,
    store::{SectionDeletion, SectionTexts},
    subscriptions::supported,
};

#[derive(Serialize)]
pub struct SectionList {
    items: Vec<SectionView>,
    next_cursor: Option<String>,
}

/// A section as the API answers it: with its per-locale texts (SPEC §7).
#[derive(Serialize)]
pub struct SectionView {
    #[serde(flatten)]
    section: Section,
    titles: BTreeMap<String, String>,
    descriptions: BTreeMap<String, String>,
}

/// The site's language, which `title` and `description` are written in.
fn default_locale(state: &ApiState) -> &'static str {
    supported(&state.config.site.language).unwrap_or(LOCALES[0])
}

/// `section` with `texts`; its own title and description are the default locale's.
fn section_view(state: &ApiState, section: Section, texts: Option<SectionTexts>) -> SectionView {
    let SectionTexts {
        mut titles,
        mut descriptions,
    } = texts.unwrap_or_default();
    let default = default_locale(state).to_owned();
    titles.insert(default.clone(), section.title.clone());
    if section.description.is_empty() {
        descriptions.remove(&default);
    } else {
        descriptions.insert(default, section.description.clone());
    }
    SectionView {
        section,
        titles,
        descriptions,
    }
}

async fn view_of(state: &ApiState, section: Section) -> Result<SectionView, AppError> {
    let texts = state.store.section_texts().await?.remove(&section.slug);
    Ok(section_view(state, section, texts))
}

/// `GET /api/v1/sections` (admin or publisher: publishers need the slugs).
pub async fn list(
    _: Publisher,
    State(state): State<ApiState>,
) -> Result<Json<SectionList>, AppError> {
    let mut texts = state.store.section_texts().await?;
    let items = (state.store.list_sections().await?.into_iter())
        .map(|s| {
            let t = texts.remove(&s.slug);
            section_view(&state, s, t)
        })
        .collect();
    Ok(Json(SectionList {
        items,
        next_cursor: None,
    }))
}

/// `GET /api/v1/sections/{slug}` (admin or publisher, as the list).
pub async fn get(
    _: Publisher,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
) -> Result<Json<SectionView>, AppError> {
    match state.store.get_section(&slug).await? {
        Some(section) => Ok(Json(view_of(&state, section).await?)),
        None => Err(unknown_section(&state, &slug).await),
    }
}

/// `DELETE /api/v1/sections/{slug}`: 204 when it held no articles; 409 saying how many it
/// still holds, or which configured source still writes to it. Its feeds answer 404 at once.
pub async fn delete(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    if state.store.get_section(&slug).await?.is_none() {
        return Err(unknown_section(&state, &slug).await);
    }
    // Such a source would fail on its next poll, and the config check at start would refuse it.
    if let Some((i, source)) = configured_source_of(&state.config.sources, &slug) {
        let name = source.name();
        return Ok(conflict(
            format!(
                "section {slug:?} is written to by source {name:?} (sources[{i}] of the \
                 configuration); remove that source first"
            ),
            serde_json::json!({ "source": name }),
        ));
    }
    let now = crate::clock::to_ms(state.clock.now());
    match state.store.delete_section(&slug, now).await? {
        SectionDeletion::Deleted => {
            tracing::info!(section = %slug, "section deleted");
            state.events.publish(Change::Sections(vec![slug]));
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        SectionDeletion::Missing => Err(unknown_section(&state, &slug).await),
        SectionDeletion::HasArticles(n) => Ok(conflict(
            format!(
                "section {slug:?} still has {n} article{}; delete them or move them to another \
                 section first",
                if n == 1 { "" } else { "s" }
            ),
            serde_json::json!({ "articles": n }),
        )),
    }
}

/// The first web or feed source of the configuration that puts its articles in `slug`.
fn configured_source_of<'a>(
    sources: &'a [SourceConfig],
    slug: &str,
) -> Option<(usize, &'a SourceConfig)> {
    sources.iter().enumerate().find(|(_, s)| match s {
        SourceConfig::Web { section, .. } | SourceConfig::Feed { section, .. } => section == slug,
        SourceConfig::Directory { .. } => false,
    })
}

/// 409 `{"error", "field": "slug", …extra}`.
fn conflict(message: String, extra: serde_json::Value) -> Response {
    let mut body = serde_json::json!({ "error": message, "field": "slug" });
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    (StatusCode::CONFLICT, Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionInput {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// Per locale (`zh-CN`, `en`); replaces the stored ones when given.
    #[serde(default)]
    titles: Option<BTreeMap<String, String>>,
    #[serde(default)]
    descriptions: Option<BTreeMap<String, String>>,
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_title(field: &str, title: &str) -> Result<(), AppError> {
    check_text(title).map_err(|e| AppError::invalid(field, format!("{field} {e}")))?;
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::invalid(
            field,
            format!("{field} must be 1 to 200 characters"),
        ));
    }
    Ok(())
}

fn check_description(field: &str, description: &str) -> Result<(), AppError> {
    check_text(description).map_err(|e| AppError::invalid(field, format!("{field} {e}")))?;
    if description.chars().count() > 2000 {
        return Err(AppError::invalid(
            field,
            format!("{field} is longer than 2000 characters"),
        ));
    }
    Ok(())
}

/// A per-locale map with known locales only and its texts checked; empty texts dropped.
fn locale_map(
    field: &str,
    map: BTreeMap<String, String>,
    title: bool,
) -> Result<BTreeMap<String, String>, AppError> {
    let mut out = BTreeMap::new();
    for (locale, text) in map {
        if !LOCALES.contains(&locale.as_str()) {
            return Err(AppError::invalid(
                field,
                format!(
                    "{field} has unknown locale {locale:?}; locales: {}",
                    LOCALES.join(", ")
                ),
            ));
        }
        let text = if title {
            one_line(&text)
        } else {
            text.trim().to_owned()
        };
        let name = format!("{field}[{locale:?}]");
        if title {
            check_title(&name, &text)?;
        } else {
            check_description(&name, &text)?;
        }
        if !text.is_empty() {
            out.insert(locale, text);
        }
    }
    Ok(out)
}

/// The text of the default locale: from the map when it has one (then `single`, if also
/// given, must agree), else `single`.
fn default_text(
    field: &str,
    single: Option<String>,
    map: Option<&BTreeMap<String, String>>,
    default: &str,
) -> Result<Option<String>, AppError> {
    match (single, map.and_then(|m| m.get(default))) {
        (Some(s), Some(m)) if &s != m => Err(AppError::invalid(
            field,
            format!("{field} and {field}s[{default:?}] differ; send one of them"),
        )),
        (_, Some(m)) => Ok(Some(m.clone())),
        (s, None) => Ok(s),
    }
}

/// `PUT /api/v1/sections/{slug}` `{title, description}` and/or `{titles, descriptions}` per
/// locale: 201 created, 200 replaced. `title`/`description` are the site language's texts;
/// without `titles` (`descriptions`), the other locales' texts stay as they were.
pub async fn put(
    _: Admin,
    State(state): State<ApiState>,
    Path(slug): Path<String>,
    JsonBody(input): JsonBody<SectionInput>,
) -> Result<(StatusCode, Json<SectionView>), AppError> {
    let slug = SectionSlug::parse(&slug).map_err(|e| AppError::invalid("slug", e))?;
    let default = default_locale(&state);
    let titles = input
        .titles
        .map(|m| locale_map("titles", m, true))
        .transpose()?;
    let descriptions = input
        .descriptions
        .map(|m| locale_map("descriptions", m, false))
        .transpose()?;
    let title = default_text(
        "title",
        input.title.map(|t| one_line(&t)),
        titles.as_ref(),
        default,
    )?
    .unwrap_or_default();
    check_title("title", &title)?;
    let description = default_text(
        "description",
        input.description.map(|d| d.trim().to_owned()),
        descriptions.as_ref(),
        default,
    )?
    .unwrap_or_default();
    check_description("description", &description)?;
    let now = crate::clock::to_ms(state.clock.now());
    let stored = state.store.section_texts().await?.remove(slug.as_str());
    let mut texts = stored.unwrap_or_default();
    if let Some(t) = titles {
        texts.titles = t;
    }
    if let Some(d) = descriptions {
        texts.descriptions = d;
    }
    texts.titles.insert(default.to_owned(), title.clone());
    if description.is_empty() {
        texts.descriptions.remove(default);
    } else {
        texts
            .descriptions
            .insert(default.to_owned(), description.clone());
    }
    // A description needs its locale's title (the row holds both).
    texts
        .descriptions
        .retain(|l, _| texts.titles.contains_key(l));
    let created = state
        .store
        .put_section(slug.as_str(), &title, &description, now)
        .await?;
    state
        .store
        .put_section_texts(slug.as_str(), &texts, None, now)
        .await?;
    state
        .events
        .publish(Change::Sections(vec![slug.to_string()]));
    let section = state
        .store
        .get_section(slug.as_str())
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("section vanished after put")))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view_of(&state, section).await?)))
}
