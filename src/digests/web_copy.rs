//! `GET /digests/{delivery id}?token=…`: a digest's web copy ("view in browser"), what that
//! mail held rendered again with the mail's own template, without anyone's address or
//! personal links. Articles retracted since are left out; the copy still opens after the
//! person unsubscribed, and is gone once they are erased.
//!
//! A missing or wrong token, an unknown delivery and an erased person all get the same 404
//! page, so the answer tells a guesser nothing. The page is never indexed, sends no Referer
//! (its URL is a secret), may be kept only by the reader's own browser, and runs no script.

use std::sync::Arc;

use axum::{
    Router,
    extract::{FromRef, Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use minijinja::context;

use super::{
    compose::Composer,
    copy_link,
    letter::pick_locale,
    render::{Letter, Reader},
};
use crate::{AppState, clock::from_ms, error::AppError, store::Store};

/// What the web copy's handler uses.
#[derive(Clone)]
pub struct CopyState {
    store: Store,
    composer: Arc<Composer>,
    /// `site.language`: whose names are the stored ones.
    language: String,
}

impl FromRef<AppState> for CopyState {
    fn from_ref(app: &AppState) -> Self {
        Self {
            store: app.store.clone(),
            composer: app.digests.composer.clone(),
            language: app.config.site.language.clone(),
        }
    }
}

/// The web copy's route.
pub fn router() -> Router<AppState> {
    Router::new().route("/digests/{id}", get(show))
}

/// `GET /digests/{id}?token=…`.
#[tracing::instrument(skip_all)]
pub async fn show(
    State(s): State<CopyState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let token = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let id = id.parse::<i64>().ok().filter(|id| *id > 0);
    let page = match id {
        Some(id) if copy_link::verify(&s.composer.link_secret, id, &token) => copy(&s, id).await,
        _ => Ok(None),
    };
    match page {
        Ok(Some((locale, html))) => answer(StatusCode::OK, locale, html),
        Ok(None) => not_found(&s, &headers),
        Err(e) => AppError::Internal(e).into_response(),
    }
}

/// Delivery `id`'s web copy (its language and HTML), or `None` when there is none (any more).
async fn copy(s: &CopyState, id: i64) -> anyhow::Result<Option<(&'static str, String)>> {
    let store = &s.store;
    let Some(copy) = store.digest_copy(id).await? else {
        return Ok(None);
    };
    let Some(run) = store.run_info(copy.run_id).await? else {
        return Ok(None);
    };
    // An announcement run belongs to no schedule: its copy is titled as its mail was.
    let (slug, stored_name) = if crate::domain::announced_article(&run.schedule).is_some() {
        let templates = s.composer.renderer.templates();
        let named = super::announcement::schedule_for(templates, &s.language);
        (named.slug, named.name)
    } else {
        let schedule = store.get_schedule_any(&run.schedule).await?;
        let name = schedule.map_or_else(|| run.schedule.clone(), |s| s.name);
        (run.schedule.clone(), name)
    };
    let articles = store.articles_by_ids(&copy.article_ids).await?;
    let sections = store.list_sections().await?;
    let names = store.display_names(&s.language).await?;
    let composer = &s.composer;
    let picked: Vec<_> = articles.iter().collect();
    composer.learn_picture_sizes(&picked).await;
    let locale = pick_locale(&copy.locale);
    let brand = composer.branding.brand(locale);
    let subscribe_url = format!("{}/subscribe?locale={locale}", composer.base_url);
    let letter = Letter {
        locale,
        brand: &brand,
        schedule: (&slug, &stored_name),
        when: from_ms(run.fire_at.unwrap_or(run.cutoff)),
        sections: &sections,
        names: &names,
        articles: &picked,
        home_url: &composer.home_url,
        reader: Reader::WebCopy {
            subscribe_url: &subscribe_url,
        },
    };
    Ok(Some((locale, composer.renderer.render(&letter)?.html)))
}

/// The same page for every link that leads nowhere, in the visitor's language.
fn not_found(s: &CopyState, headers: &HeaderMap) -> Response {
    let locale = crate::subscriptions::choose_locale(None, headers, &s.language).unwrap_or("zh-CN");
    let composer = &s.composer;
    let t = composer.renderer.templates();
    let brand = composer.branding.brand(locale);
    let base_path = url::Url::parse(&composer.base_url)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let other = t.text(locale, "common.other_locale");
    let title = t.text(locale, "digest.not_found_title");
    let html = t.render(
        "pages/notice.html",
        context! {
            t => t.strings(locale),
            locale,
            site_title => &brand.title,
            logo_url => &brand.logo_url,
            accent => &brand.accent,
            footer => &brand.footer,
            base_path => &base_path,
            other_locale_url => format!("{base_path}/subscribe?locale={other}"),
            title => &title,
            lines => vec![t.text(locale, "digest.not_found_body")],
            link => context! {
                url => format!("{base_path}/subscribe?locale={locale}"),
                label => t.text(locale, "digest.subscribe"),
            },
            error => true,
        },
    );
    match html {
        Ok(html) => answer(StatusCode::NOT_FOUND, locale, html),
        Err(e) => AppError::Internal(e).into_response(),
    }
}

/// An HTML answer with the protective headers of a page whose URL is a secret.
fn answer(status: StatusCode, locale: &str, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // Only the reader's own browser may keep it; it asks again before showing it, so a
        // retraction or an erasure shows at once.
        (header::CACHE_CONTROL, "private, no-cache"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    if let Ok(v) = HeaderValue::from_str(locale) {
        h.insert(header::CONTENT_LANGUAGE, v);
    }
    resp
}
