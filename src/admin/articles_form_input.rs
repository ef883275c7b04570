//! Reading the article form: what it can explain in the page's language (id, section, time
//! in the site's zone, URLs) is checked here; the rest is the API's input, checked by ingest.

use super::*;

/// The wall-clock `raw` in the site's zone as an instant; the error is a message key.
fn parse_local(desk: &Desk, raw: &str) -> Result<DateTime<Utc>, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("articles.errors.time_empty");
    }
    let naive = TIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .ok_or("articles.errors.time_format")?;
    let tz = desk.console.config.site_timezone().0;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        // The hour a clock goes back happens twice: the first one is meant.
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err("articles.errors.time_gap"),
    }
}

fn http_url(raw: &str) -> bool {
    url::Url::parse(raw.trim())
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Checks what the form can explain in the page's language, then builds the API's input.
pub fn parse(
    desk: &Desk,
    view: &View,
    f: &ArticleForm,
    mode: Mode,
    sections: &[(String, String)],
) -> Result<ArticleInput, Errors> {
    let mut errors = Errors::new();
    let mut err = |field: &'static str, key: &str| {
        errors.entry(field).or_insert_with(|| {
            view.text(key)
                .replace("{max}", &MAX_ID.to_string())
                .replace("{zone}", &desk.console.config.site.timezone)
        });
    };
    let id = f.id.trim();
    if mode == Mode::New {
        if id.is_empty() {
            err("id", "articles.errors.id_empty");
        } else if id.chars().any(char::is_whitespace) {
            err("id", "articles.errors.id_space");
        } else if id.chars().count() > MAX_ID || id.chars().any(char::is_control) {
            err("id", "articles.errors.id_long");
        } else if matches!(id, "new" | "preview") {
            err("id", "articles.errors.id_reserved");
        }
    }
    if f.title.trim().is_empty() {
        err("title", "articles.errors.title_empty");
    }
    if !sections.iter().any(|(slug, _)| *slug == f.section) {
        err("section", "articles.errors.section");
    }
    if f.body.trim().is_empty() {
        err("body", "articles.errors.body_empty");
    }
    if !matches!(f.format.as_str(), "markdown" | "html") {
        err("format", "articles.errors.format");
    }
    if f.url.trim().is_empty() {
        err("url", "articles.errors.url_empty");
    } else if !http_url(&f.url) {
        err("url", "articles.errors.url_bad");
    }
    let image = f.image_url.trim();
    if !image.is_empty() && !http_url(image) {
        err("image_url", "articles.errors.url_bad");
    }
    if image.is_empty() && !f.image_caption.trim().is_empty() {
        err("image_url", "articles.errors.caption_alone");
    }
    let published = parse_local(desk, &f.published);
    if let Err(key) = published {
        err("published", key);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let body = f.body.clone();
    let (content_html, content_markdown) = if f.format == "markdown" {
        (None, Some(body))
    } else {
        (Some(body), None)
    };
    let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    Ok(ArticleInput {
        id: None,
        section: Some(f.section.clone()),
        title: Some(f.title.clone()),
        url: Some(f.url.trim().to_owned()),
        content_html,
        content_markdown,
        summary: opt(&f.summary),
        author: opt(&f.author),
        image: opt(image).map(|url| ImageInput {
            url,
            caption: opt(&f.image_caption),
        }),
        tags: Some(
            f.tags
                .split([',', '，', '、'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        published_at: published.ok().map(|t| t.to_rfc3339()),
        updated_at: None,
    })
}
