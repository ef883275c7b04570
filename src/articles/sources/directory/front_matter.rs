//! An article file: TOML (`+++`) or YAML (`---`) front matter holding the article fields,
//! then the body in Markdown or HTML. Errors carry the line they are about.

use std::collections::HashMap;

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::{
    articles::sources::parse_date,
    articles::{ArticleInput, ImageInput},
    domain::strip_invalid_chars,
};

/// How the body is written, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Markdown,
    Html,
}

/// What is wrong with a file, and on which line (1-based) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: Option<usize>,
    pub message: String,
}

impl FileError {
    fn at(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

/// A parsed file, ready for ingest.
#[derive(Debug, Clone)]
pub struct FileArticle {
    pub id: String,
    pub input: ArticleInput,
    /// Line of each top-level front matter key, to point validation errors at it.
    key_lines: HashMap<String, usize>,
}

impl FileArticle {
    /// The line where `field` (as ingest names it, e.g. `image.url`) is set, if it is.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        let top = field.split(['.', '[']).next().unwrap_or(field);
        self.key_lines.get(top).copied()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: Option<String>,
    section: Option<String>,
    title: Option<String>,
    url: Option<String>,
    summary: Option<String>,
    author: Option<String>,
    image: Option<ImageFront>,
    tags: Option<Vec<String>>,
    #[serde(alias = "date")]
    published_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageFront {
    url: String,
    caption: Option<String>,
}

/// Parses the text of `<section>/<slug>.<ext>`; dates without an offset are read in `tz`.
pub fn parse(
    section: &str,
    slug: &str,
    format: BodyFormat,
    text: &str,
    tz: Tz,
) -> Result<FileArticle, FileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (toml, front, body) = split(text)?;
    let value = if toml {
        toml_value(front)?
    } else {
        yaml_value(front)?
    };
    let key_lines = key_lines(front);
    let line = |key: &str| key_lines.get(key).copied();
    let fm: FrontMatter = serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let key = e.path().iter().next().map(|s| s.to_string()).or_else(|| {
            // "unknown field `titel`, expected one of …" has no path: take the name.
            inner.split('`').nth(1).map(str::to_owned)
        });
        let line = key
            .as_deref()
            .and_then(|k| line(k.split('[').next().unwrap_or(k)));
        let what = match e.path().to_string().as_str() {
            "." => inner,
            path => format!("{path}: {inner}"),
        };
        FileError::at(line, what)
    })?;
    if let Some(s) = &fm.section
        && s != section
    {
        return Err(FileError::at(
            line("section"),
            format!("section {s:?} differs from the folder {section:?} the file is in"),
        ));
    }
    let clean = |s: Option<String>| s.map(|s| strip_invalid_chars(&s));
    let body = strip_invalid_chars(body);
    let (content_markdown, content_html) = match format {
        BodyFormat::Markdown => (Some(body), None),
        BodyFormat::Html => (None, Some(body)),
    };
    let input = ArticleInput {
        id: None,
        section: Some(section.to_owned()),
        title: clean(fm.title),
        url: clean(fm.url),
        content_html,
        content_markdown,
        summary: clean(fm.summary),
        author: clean(fm.author),
        image: fm.image.map(|i| ImageInput {
            url: strip_invalid_chars(&i.url),
            caption: clean(i.caption),
        }),
        tags: fm
            .tags
            .map(|t| t.iter().map(|s| strip_invalid_chars(s)).collect()),
        published_at: fm.published_at.map(|d| local_date(&d, tz)),
        updated_at: fm.updated_at.map(|d| local_date(&d, tz)),
    };
    let id = match fm.id {
        Some(id) => strip_invalid_chars(id.trim()),
        None => format!("{section}/{slug}"),
    };
    Ok(FileArticle {
        id,
        input,
        key_lines,
    })
}

/// RFC 3339 as is; `2025-02-21 09:00` or `2025年2月21日` read in `tz`; anything else left for
/// validation to reject with its usual message.
fn local_date(s: &str, tz: Tz) -> String {
    if DateTime::parse_from_rfc3339(s.trim()).is_ok() {
        return s.to_owned();
    }
    parse_date(s, tz).map_or_else(|| s.to_owned(), |t| t.to_rfc3339())
}

/// Splits the text into (is TOML, front matter, body).
fn split(text: &str) -> Result<(bool, &str, &str), FileError> {
    let first_end = text.find('\n').map_or(text.len(), |i| i + 1);
    let delim = text[..first_end].trim_end();
    let toml = match delim {
        "+++" => true,
        "---" => false,
        _ => {
            return Err(FileError::at(
                Some(1),
                "missing front matter: the file must start with a line +++ (TOML) or --- (YAML)",
            ));
        }
    };
    let mut offset = first_end;
    for line in text[first_end..].split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == delim || (!toml && trimmed == "...") {
            return Ok((toml, &text[first_end..offset], &text[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err(FileError::at(
        Some(1),
        format!("the front matter opened with {delim} on line 1 is never closed by a line {delim}"),
    ))
}

/// Converts a 0-based byte offset in the front matter to a 1-based file line.
fn file_line(front: &str, offset: usize) -> usize {
    front[..offset.min(front.len())].matches('\n').count() + 2
}

fn toml_value(front: &str) -> Result<serde_json::Value, FileError> {
    let table: toml::Table = toml::from_str(front).map_err(|e| {
        let line = e.span().map(|s| file_line(front, s.start));
        FileError::at(line, format!("TOML: {}", e.message().trim()))
    })?;
    Ok(toml_to_json(toml::Value::Table(table)))
}

fn toml_to_json(v: toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => s.into(),
        toml::Value::Integer(i) => i.into(),
        toml::Value::Float(f) => f.into(),
        toml::Value::Boolean(b) => b.into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.into_iter().map(toml_to_json).collect(),
        toml::Value::Table(t) => t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect(),
    }
}

fn yaml_value(front: &str) -> Result<serde_json::Value, FileError> {
    let value: serde_json::Value = serde_yaml_ng::from_str(front).map_err(|e| {
        let line = e.location().map(|l| l.line() + 1);
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        FileError::at(line, format!("YAML: {message}"))
    })?;
    match value {
        serde_json::Value::Null => Ok(serde_json::Value::Object(Default::default())),
        v @ serde_json::Value::Object(_) => Ok(v),
        _ => Err(FileError::at(
            Some(2),
            "YAML: the front matter must be a mapping of keys such as title: …",
        )),
    }
}

/// Line of each top-level key (`key = …`, `key: …`, `[key]`).
fn key_lines(front: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (i, line) in front.lines().enumerate() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        let key = if let Some(table) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table.trim()
        } else {
            let end = line.find(['=', ':']).unwrap_or(0);
            line[..end].trim().trim_matches(['"', '\''])
        };
        if !key.is_empty() {
            out.entry(key.to_owned()).or_insert(i + 2);
        }
    }
    out
}
