//! Announce an article (admins): `GET /admin/articles/{id}/announce` says how many people it
//! mails now, and whether (and when) it was announced before; `POST` sends it (as
//! `POST /api/v1/articles/{id}/announce`, forced when the page said it went out before) and
//! goes to the run's page.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::Deserialize;

use super::{
    articles_shared::{Desk, id_path},
    page::{Notice, View},
    session::AdminSession,
    visit::Visit,
};
use crate::{
    AppState,
    clock::from_ms,
    digests::announcement::Refused,
    domain::{Audit, AuditKind},
    error::AppError,
    store::Announced,
};

/// `GET /admin/articles/{id}/announce`: the confirmation page.
pub async fn confirm(
    State(desk): State<Desk>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let store = &desk.console.store;
    let Some(a) = store.console_article(&id).await? else {
        return Ok(missing_in(&desk, &s.visit));
    };
    let view = View::new(&desk.console, &s.visit);
    let admin = desk.console.admin_path();
    let refusal = if a.retracted_at.is_some() {
        Some(view.text("announce.retracted"))
    } else if a.article.published_at > desk.console.clock.now() {
        Some(
            view.text("announce.scheduled")
                .replace("{time}", &view.time(a.article.published_at)),
        )
    } else {
        None
    };
    let before = store.latest_announcement(&id).await?;
    let readers = store.count_announcement_readers(&a.article.section).await?;
    Ok(view.render(
        "admin/articles_announce.html",
        &view.text("announce.title"),
        if refusal.is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        },
        context! {
            article_title => &a.article.title,
            path => id_path(&id),
            refusal => refusal,
            lead => view.text("announce.lead").replace("{n}", &readers.to_string()),
            before => before.map(|b| context! {
                when => view.time(from_ms(b.created_at)),
                run => b.run_id,
            }),
            back => format!("{admin}/articles/{}", id_path(&id)),
        },
    ))
}

/// The "no such article" page.
fn missing_in(desk: &Desk, visit: &Visit) -> Response {
    let view = View::new(&desk.console, visit);
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(view.text("articles.missing"), Vec::new()).link(
            format!("{}/articles", desk.console.admin_path()),
            view.text("articles.back"),
        ),
    )
}

/// The announce form: `force` is set when the page said the article went out before.
#[derive(Debug, Default, Deserialize)]
pub struct AnnounceForm {
    #[serde(default)]
    force: String,
}

/// `POST /admin/articles/{id}/announce`: sends it now, then shows its run.
#[tracing::instrument(skip_all)]
pub async fn announce(
    State(app): State<AppState>,
    State(desk): State<Desk>,
    s: AdminSession,
    Path(id): Path<String>,
    Form(f): Form<AnnounceForm>,
) -> Result<Response, AppError> {
    let force = f.force == "1";
    let admin = desk.console.admin_path();
    let run = match app.digests.announce(&id, force).await? {
        Err(Refused::Unknown) => return Ok(missing_in(&desk, &s.visit)),
        // Retracted or rescheduled since the page was shown: it says why.
        Err(_) => {
            return Ok(
                Redirect::to(&format!("{admin}/articles/{}/announce", id_path(&id)))
                    .into_response(),
            );
        }
        // Announced meanwhile by someone else: their run is the one to watch.
        Ok(Announced::Already(run)) => {
            return Ok(Redirect::to(&format!("{admin}/runs/{run}")).into_response());
        }
        Ok(Announced::Started(run)) => run,
    };
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::ArticleAnnounce,
        &format!("article {id}"),
        Some(&s.visit.client),
    )
    .change(
        None,
        Some(format!("run {run}{}", if force { ", again" } else { "" })),
    );
    desk.console
        .store
        .record_audit(&audit, desk.console.now_ms())
        .await?;
    tracing::info!(id, run, "article announced in the console");
    Ok(Redirect::to(&format!("{admin}/runs/{run}")).into_response())
}

/// What the runs pages call a run of `schedule`: an announcement by its article's title
/// ("通知：…"), any other run by its schedule's slug.
pub(super) async fn run_label(
    state: &super::state::ConsoleState,
    view: &View<'_>,
    schedule: &str,
) -> Result<String, AppError> {
    let Some(id) = crate::domain::announced_article(schedule) else {
        return Ok(schedule.to_owned());
    };
    let title = match state.store.console_article(id).await? {
        Some(a) => a.article.title,
        None => id.to_owned(),
    };
    Ok(view.text("announce.run_label").replace("{title}", &title))
}
