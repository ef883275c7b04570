//! What a visitor submits, from an HTML form or JSON, turned into fields once; the language
//! of the answer; and the problems found, as keys that pages translate.

use std::collections::HashMap;

use axum::{
    body::{Body, to_bytes},
    http::{HeaderMap, StatusCode, header},
};

use crate::mail::templates::LOCALES;

/// Largest body the public subscription endpoints read.
pub const MAX_BODY: usize = 64 * 1024;

/// How to answer: a page or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

/// Something wrong with a request, to be answered with `status` and the translated `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub field: Option<String>,
    /// Key under `[errors]` in the locale strings.
    pub code: &'static str,
    /// Replaces `{value}` in the message.
    pub value: String,
}

impl Problem {
    /// 400: the request itself is malformed.
    pub fn bad(field: Option<&str>, code: &'static str, value: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            field: field.map(str::to_owned),
            code,
            value: value.into(),
        }
    }

    /// 422: a well-formed field with a value we cannot accept.
    pub fn invalid(field: &str, code: &'static str, value: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: Some(field.to_owned()),
            code,
            value: value.into(),
        }
    }
}

/// Submitted fields: each name with every value given for it.
#[derive(Debug, Default, Clone)]
pub struct Fields(HashMap<String, Vec<String>>);

impl Fields {
    /// Fields from a query string.
    pub fn from_query(query: Option<&str>) -> Self {
        Self::from_urlencoded(query.unwrap_or("").as_bytes())
    }

    fn from_urlencoded(bytes: &[u8]) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(bytes) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Self(map)
    }

    fn from_json(bytes: &[u8]) -> Result<Self, Problem> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Problem::bad(None, "body_unreadable", e.to_string()))?;
        let serde_json::Value::Object(obj) = value else {
            return Err(Problem::bad(None, "body_unreadable", "not a JSON object"));
        };
        let mut map = HashMap::new();
        for (k, v) in obj {
            let values = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => vec![s],
                serde_json::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => Ok(s),
                        _ => Err(Problem::invalid(&k, "field_type", k.clone())),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(Problem::invalid(&k, "field_type", k.clone())),
            };
            map.insert(k, values);
        }
        Ok(Self(map))
    }

    /// Refuses any field outside `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), Problem> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(Problem::bad(Some(k), "field_unknown", k.clone())),
            None => Ok(()),
        }
    }

    /// A field given at most once.
    pub fn one(&self, name: &str) -> Result<Option<&str>, Problem> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([v]) => Ok(Some(v)),
            Some(_) => Err(Problem::bad(Some(name), "field_repeated", name)),
        }
    }

    /// Every value of a field (a list in JSON, repeated in a form).
    pub fn many(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Reads a POST body by its Content-Type. `multipart_ok` accepts multipart/form-data without
/// reading it (RFC 8058 one-click unsubscribe puts everything needed in the URL).
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    multipart_ok: bool,
) -> Result<(Format, Fields), Problem> {
    let mime = content_type(headers);
    let bytes = to_bytes(body, MAX_BODY).await.map_err(|_| Problem {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        field: None,
        code: "body_unreadable",
        value: String::new(),
    })?;
    let format = answer_format(headers);
    match mime.as_str() {
        m if m == "application/json" || m.ends_with("+json") => {
            Ok((Format::Json, Fields::from_json(&bytes)?))
        }
        "application/x-www-form-urlencoded" => Ok((format, Fields::from_urlencoded(&bytes))),
        "multipart/form-data" if multipart_ok => Ok((format, Fields::default())),
        "" if bytes.is_empty() => Ok((format, Fields::default())),
        _ => Err(Problem {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field: None,
            code: "content_type",
            value: mime,
        }),
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// JSON when the request is JSON or asks for JSON rather than HTML; a page otherwise.
pub fn answer_format(headers: &HeaderMap) -> Format {
    let mime = content_type(headers);
    if mime == "application/json" || mime.ends_with("+json") {
        return Format::Json;
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/json") && !accept.contains("text/html") {
        Format::Json
    } else {
        Format::Html
    }
}

/// The answer's language: the `locale` field, then `Accept-Language`, then `fallback`
/// (the subscriber's or the site's). An unsupported `locale` field is a 422.
pub fn choose_locale(
    field: Option<&str>,
    headers: &HeaderMap,
    fallback: &str,
) -> Result<&'static str, Problem> {
    if let Some(f) = field {
        return supported(f).ok_or_else(|| Problem::invalid("locale", "locale_unknown", f));
    }
    Ok(from_accept_language(headers)
        .or_else(|| supported(fallback))
        .unwrap_or(LOCALES[0]))
}

/// Maps a tag to a supported locale: `zh`, `zh-CN`, `zh-Hans-CN` → zh-CN; `en-*` → en.
pub fn supported(tag: &str) -> Option<&'static str> {
    let lower = tag.trim().to_ascii_lowercase();
    let primary = lower.split(['-', '_']).next().unwrap_or("");
    match primary {
        "zh" => Some("zh-CN"),
        "en" => Some("en"),
        _ => None,
    }
}

fn from_accept_language(headers: &HeaderMap) -> Option<&'static str> {
    let raw = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut tags: Vec<(f32, usize, &str)> = raw
        .split(',')
        .take(32)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = it.next()?.trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, i, tag))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().find_map(|(_, _, t)| supported(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept_language: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, accept_language.parse().unwrap());
        h
    }

    #[test]
    fn locale_comes_from_the_field_then_accept_language_then_the_fallback() {
        assert_eq!(
            choose_locale(Some("en"), &headers("zh-CN"), "zh-CN"),
            Ok("en")
        );
        assert_eq!(
            choose_locale(None, &headers("fr, en;q=0.8, zh;q=0.9"), "en"),
            Ok("zh-CN")
        );
        assert_eq!(
            choose_locale(None, &headers("en-GB,en;q=0.9"), "zh-CN"),
            Ok("en")
        );
        assert_eq!(
            choose_locale(None, &headers("fr, de;q=0.5"), "en"),
            Ok("en")
        );
        assert_eq!(choose_locale(None, &HeaderMap::new(), "zh-CN"), Ok("zh-CN"));
        assert_eq!(
            choose_locale(None, &headers("en;q=0, zh-TW"), "en"),
            Ok("zh-CN")
        );
        let bad = choose_locale(Some("en\r\nBcc: x@y.cn"), &HeaderMap::new(), "en").unwrap_err();
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.field.as_deref(), Some("locale"));
    }

    #[test]
    fn json_fields_accept_strings_and_string_lists_only() {
        let f =
            Fields::from_json(br#"{"email":"a@b.cn","sections":["news","notices"],"locale":null}"#)
                .unwrap();
        assert_eq!(f.one("email").unwrap(), Some("a@b.cn"));
        assert_eq!(f.many("sections"), ["news", "notices"]);
        assert_eq!(f.one("locale").unwrap(), None);
        assert_eq!(
            Fields::from_json(br#"{"email":1}"#)
                .unwrap_err()
                .field
                .as_deref(),
            Some("email")
        );
        assert_eq!(
            Fields::from_json(b"[1]").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn repeated_single_fields_and_unknown_fields_are_refused() {
        let f = Fields::from_urlencoded(b"email=a%40b.cn&email=c%40d.cn&x=1");
        assert_eq!(f.one("email").unwrap_err().code, "field_repeated");
        assert_eq!(f.only(&["email"]).unwrap_err().field.as_deref(), Some("x"));
    }
}
