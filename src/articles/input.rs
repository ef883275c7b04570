//! What a publisher sends, and its one-time validation into a [`NewArticle`].

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    excerpt::summary_of,
    sanitize::{markdown_to_html, sanitize_html},
};
use crate::{
    domain::{Image, NewArticle, check_text},
    error::AppError,
};

/// Longest accepted values, in characters.
const MAX_ID: usize = 200;
const MAX_TITLE: usize = 500;
const MAX_URL: usize = 2048;
const MAX_SUMMARY: usize = 2000;
const MAX_AUTHOR: usize = 200;
const MAX_TAGS: usize = 50;
const MAX_TAG: usize = 100;
/// Largest article body after rendering, in bytes.
const MAX_CONTENT_BYTES: usize = 1024 * 1024;

/// The JSON body of `PUT /api/v1/articles/{id}` (SPEC §3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub id: Option<String>,
    pub section: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub content_html: Option<String>,
    pub content_markdown: Option<String>,
    pub summary: Option<String>,
    pub author: Option<String>,
    pub image: Option<ImageInput>,
    pub tags: Option<Vec<String>>,
    pub published_at: Option<String>,
    pub updated_at: Option<String>,
}

/// `image` of an article.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    pub url: String,
    pub caption: Option<String>,
}

fn text_field(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    check_text(value).map_err(|e| AppError::invalid(field, format!("{field} {e}")))?;
    if value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(())
}

/// One line of text: trimmed, inner whitespace runs (newlines included) made one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn http_url(field: &str, value: &str) -> Result<url::Url, AppError> {
    text_field(field, value, MAX_URL)?;
    let u = url::Url::parse(value.trim())
        .map_err(|e| AppError::invalid(field, format!("{field} is not a valid URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(AppError::invalid(
            field,
            format!("{field} must be an absolute http or https URL"),
        ));
    }
    Ok(u)
}

fn instant(field: &str, value: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            AppError::invalid(
                field,
                format!("{field} must be an RFC 3339 date-time such as 2025-02-21T09:00:00+08:00"),
            )
        })
}

/// Checks an article id taken from the URL path.
pub fn check_id(id: &str) -> Result<(), AppError> {
    if id.is_empty() {
        return Err(AppError::invalid("id", "id must not be empty"));
    }
    text_field("id", id, MAX_ID)?;
    if id.chars().any(char::is_whitespace) {
        return Err(AppError::invalid("id", "id must not contain whitespace"));
    }
    Ok(())
}

impl ArticleInput {
    /// Validates every field and produces the sanitised article; `id` comes from the path.
    /// `section_exists` says whether a slug names a known section.
    pub fn into_new_article(
        self,
        id: &str,
        source: &str,
        section_exists: impl Fn(&str) -> bool,
    ) -> Result<NewArticle, AppError> {
        check_id(id)?;
        if let Some(body_id) = &self.id
            && body_id != id
        {
            return Err(AppError::invalid(
                "id",
                "id in the body differs from the id in the URL",
            ));
        }
        let section = self
            .section
            .ok_or_else(|| AppError::invalid("section", "section is required"))?;
        if !section_exists(&section) {
            return Err(AppError::invalid(
                "section",
                format!("unknown section {section:?}"),
            ));
        }
        let title = self.title.unwrap_or_default();
        text_field("title", &title, MAX_TITLE)?;
        let title = one_line(&title);
        if title.is_empty() {
            return Err(AppError::invalid("title", "title must not be empty"));
        }
        let raw_url = self
            .url
            .ok_or_else(|| AppError::invalid("url", "url is required"))?;
        let url = http_url("url", &raw_url)?;
        let raw_html = match (self.content_html, self.content_markdown) {
            (Some(_), Some(_)) => {
                return Err(AppError::invalid(
                    "content_html",
                    "send content_html or content_markdown, not both",
                ));
            }
            (Some(h), None) => {
                text_field("content_html", &h, usize::MAX)?;
                h
            }
            (None, Some(m)) => {
                text_field("content_markdown", &m, usize::MAX)?;
                markdown_to_html(&m)
            }
            (None, None) => {
                return Err(AppError::invalid(
                    "content_html",
                    "content_html or content_markdown is required",
                ));
            }
        };
        let content_html = sanitize_html(&raw_html, Some(&url));
        if content_html.len() > MAX_CONTENT_BYTES {
            return Err(AppError::invalid(
                "content_html",
                format!("content is larger than {MAX_CONTENT_BYTES} bytes"),
            ));
        }
        let summary = match self.summary {
            Some(s) if !s.trim().is_empty() => {
                text_field("summary", &s, MAX_SUMMARY)?;
                one_line(&s)
            }
            _ => summary_of(&content_html),
        };
        let author = match self.author {
            Some(a) => {
                text_field("author", &a, MAX_AUTHOR)?;
                Some(one_line(&a)).filter(|a| !a.is_empty())
            }
            None => None,
        };
        let image = match self.image {
            Some(img) => {
                http_url("image.url", &img.url)?;
                let caption = match img.caption {
                    Some(c) => {
                        text_field("image.caption", &c, MAX_TITLE)?;
                        Some(one_line(&c)).filter(|c| !c.is_empty())
                    }
                    None => None,
                };
                Some(Image {
                    url: img.url.trim().to_owned(),
                    caption,
                })
            }
            None => None,
        };
        let mut tags: Vec<String> = Vec::new();
        for t in self.tags.unwrap_or_default() {
            text_field("tags", &t, MAX_TAG)?;
            let t = one_line(&t);
            if !t.is_empty() && !tags.contains(&t) {
                tags.push(t);
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(AppError::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags"),
            ));
        }
        let published_at = instant(
            "published_at",
            self.published_at
                .as_deref()
                .ok_or_else(|| AppError::invalid("published_at", "published_at is required"))?,
        )?;
        let updated_at = self
            .updated_at
            .as_deref()
            .map(|u| instant("updated_at", u))
            .transpose()?;
        Ok(NewArticle {
            id: id.to_owned(),
            section,
            title,
            url: raw_url.trim().to_owned(),
            content_html,
            summary,
            author,
            image,
            tags,
            published_at,
            updated_at,
            source: source.to_owned(),
        })
    }
}
