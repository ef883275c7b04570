//! Console pages: subscribers (admins only). The list with counts per status, prefix search,
//! filters and keyset paging, and a filtered CSV export; a person's page with their history,
//! deliveries and bounces, and erasure after a confirmation page. Adding one person is in
//! `subscribers_add.rs`, the CSV import by upload in `subscribers_import.rs`.

#[path = "subscribers_add.rs"]
mod add;
#[path = "subscribers_import.rs"]
mod import;
#[path = "subscribers_person.rs"]
mod person;

use std::collections::HashMap;

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use minijinja::context;
use serde::Serialize;

use super::{
    Route,
    page::{View, ser},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    domain::{Subscriber, SubscriberStatus},
    error::AppError,
    store::{ConsoleCursor, SubscriberQuery},
    subscriptions::choices::Catalog,
};

/// Rows per page of the list.
const PAGE: u32 = 50;
/// Rows fetched per page while streaming an export.
const EXPORT_PAGE: u32 = 1000;
/// Longest search prefix, in characters (an address is at most 254).
const MAX_PREFIX: usize = 254;

/// Routes of this page open to editors (and admins).
pub(super) fn editor_routes() -> Vec<Route> {
    Vec::new()
}

/// Routes of this page for admins only.
pub(super) fn admin_routes() -> Vec<Route> {
    vec![
        Route::get("/admin/subscribers", list),
        Route::get("/admin/subscribers/export", export),
        Route::get("/admin/subscribers/new", add::form),
        Route::post("/admin/subscribers/new", add::submit),
        Route::get("/admin/subscribers/import", import::form),
        Route::post("/admin/subscribers/import", import::upload),
        Route::get("/admin/subscribers/import/{upload}", import::preview),
        Route::post("/admin/subscribers/import/{upload}", import::commit),
        Route::get("/admin/subscribers/{id}", person::show),
        Route::post("/admin/subscribers/{id}/resend", add::resend),
        Route::get("/admin/subscribers/{id}/erase", person::confirm_erase),
        Route::post("/admin/subscribers/{id}/erase", person::erase),
    ]
}

/// A row of the list.
#[derive(Serialize)]
struct Row {
    id: i64,
    email: String,
    status: &'static str,
    sections: Vec<String>,
    schedule: String,
    since: String,
}

/// The list's query string, read leniently: an unknown value is named on the page.
struct Filters {
    query: SubscriberQuery,
    /// What the person typed or picked, to show back.
    q: String,
    status: String,
    section: String,
    schedule: String,
    problems: Vec<String>,
}

impl Filters {
    fn read(params: &HashMap<String, String>, catalog: &Catalog, view: &View<'_>) -> Self {
        let get = |k: &str| params.get(k).map_or("", |v| v.trim()).to_owned();
        let (q, status, section, schedule) =
            (get("q"), get("status"), get("section"), get("schedule"));
        let mut problems = Vec::new();
        let mut query = SubscriberQuery::default();
        if q.chars().count() > MAX_PREFIX || q.chars().any(char::is_control) {
            problems.push(view.text("subscribers.errors.prefix"));
        } else if !q.is_empty() {
            query.prefix = Some(q.clone());
        }
        if !status.is_empty() {
            match SubscriberStatus::parse(&status) {
                Ok(s) => query.status = Some(s),
                Err(_) => problems.push(view.text("subscribers.errors.status")),
            }
        }
        if !section.is_empty() {
            if catalog.sections.iter().any(|s| s.slug == section) {
                query.section = Some(section.clone());
            } else {
                problems.push(view.text("subscribers.errors.section"));
            }
        }
        if !schedule.is_empty() {
            if catalog.schedules.iter().any(|s| s.slug == schedule) {
                query.schedule = Some(schedule.clone());
            } else {
                problems.push(view.text("subscribers.errors.schedule"));
            }
        }
        Self {
            query,
            q,
            status,
            section,
            schedule,
            problems,
        }
    }

    /// The query string of these filters (and `extra` pairs), for links.
    fn link(&self, extra: &[(&str, &str)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.q),
            ("status", &self.status),
            ("section", &self.section),
            ("schedule", &self.schedule),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

/// Slug → title pairs, in the page's language.
type Names = Vec<(String, String)>;

/// Section slug → title in the page's language, and the same for schedules.
pub(super) fn names(catalog: &Catalog, view: &View<'_>) -> (Names, Names) {
    let t = &view.state.templates;
    let locale = view.visit.locale;
    let sections = catalog
        .section_choices(t, locale, None)
        .into_iter()
        .map(|c| (c.slug, c.title))
        .collect();
    let schedules = catalog
        .schedule_choices(t, locale, None)
        .into_iter()
        .map(|c| (c.slug, c.title))
        .collect();
    (sections, schedules)
}

fn title_of(names: &[(String, String)], slug: &str) -> String {
    names
        .iter()
        .find(|(s, _)| s == slug)
        .map_or_else(|| slug.to_owned(), |(_, t)| t.clone())
}

/// What a person's sections read as: the titles, or "all sections".
pub(super) fn sections_text(
    s: &Subscriber,
    names: &[(String, String)],
    view: &View<'_>,
) -> Vec<String> {
    if s.all_sections {
        vec![view.text("subscribers.all_sections")]
    } else {
        s.sections
            .iter()
            .map(|slug| title_of(names, slug))
            .collect()
    }
}

/// `GET /admin/subscribers?q=&status=&section=&schedule=&after=`.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let filters = Filters::read(&params, &catalog, &view);
    let after = params.get("after").and_then(|c| ConsoleCursor::decode(c));
    let (items, next) = state
        .store
        .search_subscribers(&filters.query, PAGE, after.as_ref())
        .await?;
    let counts = state.store.subscriber_counts().await?;
    let (section_names, schedule_names) = names(&catalog, &view);
    let rows: Vec<Row> = items
        .iter()
        .map(|sub| Row {
            id: sub.id,
            email: sub.email.clone(),
            status: sub.status.as_str(),
            sections: sections_text(sub, &section_names, &view),
            schedule: title_of(&schedule_names, &sub.schedule),
            since: view.time(crate::clock::from_ms(sub.created_at)),
        })
        .collect();
    let admin = state.admin_path();
    let status_links: Vec<_> = counts
        .iter()
        .map(|(st, n)| {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair("status", st.as_str());
            context! {
                status => st.as_str(),
                n => n,
                url => format!("{admin}/subscribers?{}", s.finish()),
                current => filters.status == st.as_str(),
            }
        })
        .collect();
    let next_url = next.map(|c| {
        format!(
            "{admin}/subscribers?{}",
            filters.link(&[("after", &c.encode())])
        )
    });
    let first_url = after
        .is_some()
        .then(|| format!("{admin}/subscribers?{}", filters.link(&[])));
    let export_url = format!("{admin}/subscribers/export?{}", filters.link(&[]));
    let notice = match params.get("done").map(String::as_str) {
        Some("erased") => Some(view.text("subscribers.erased")),
        _ => None,
    };
    Ok(view.render(
        "admin/subscribers_list.html",
        &view.text("subscribers.title"),
        StatusCode::OK,
        context! {
            counts => status_links,
            total => counts.iter().map(|(_, n)| n).sum::<i64>(),
            rows => ser(&rows),
            q => filters.q,
            status => filters.status,
            section => filters.section,
            schedule => filters.schedule,
            statuses => ser(&SubscriberStatus::NAMES),
            sections => ser(&section_names),
            schedules => ser(&schedule_names),
            problems => filters.problems,
            next_url => next_url,
            first_url => first_url,
            export_url => export_url,
            notice => notice,
        },
    ))
}

/// `GET /admin/subscribers/export?…`: the listed subscribers (filters applied) as the API's
/// CSV, streamed page by page.
#[tracing::instrument(skip_all)]
pub async fn export(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let query = Filters::read(&params, &catalog, &view).query;
    let header_line =
        Bytes::from_static(b"email,sections,schedule,status,locale,created_at,confirmed_at\n");
    let store = state.store.clone();
    let pages = futures_util::stream::unfold(Some(None), move |cursor| {
        let store = store.clone();
        let query = query.clone();
        async move {
            let cursor: Option<ConsoleCursor> = cursor?;
            match store
                .search_subscribers(&query, EXPORT_PAGE, cursor.as_ref())
                .await
            {
                Ok((items, next)) => Some((
                    Ok(crate::api::subscribers::csv_rows(&items)),
                    next.map(Some),
                )),
                Err(e) => {
                    tracing::error!(error = ?e, "export failed part-way");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
            }
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(header_line) }),
        pages,
    );
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"subscribers.csv\""),
    );
    super::page::protect(&mut resp);
    Ok(resp)
}
