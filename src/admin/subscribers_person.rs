//! A person's page: status and its history, choices, deliveries and bounces; erasure after a
//! confirmation page (the same erasure as `DELETE /api/v1/subscribers/{email}`).

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::Serialize;

use super::super::{
    page::{Notice, View, ser},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    clock::from_ms,
    domain::{Audit, AuditKind, Subscriber},
    error::AppError,
    subscriptions::choices::Catalog,
};

/// Deliveries listed on a person's page.
const DELIVERIES: u32 = 20;

/// One line of a person's history.
#[derive(Serialize)]
struct Event {
    at_ms: i64,
    at: String,
    /// Key under `subscribers.events`.
    event: String,
    actor: Option<String>,
    note: Option<String>,
}

#[derive(Serialize)]
struct DeliveryRow {
    run_id: i64,
    schedule: String,
    at: String,
    status: String,
    reply: Option<String>,
}

/// The page saying there is no such person (erased, or a wrong id).
pub(super) fn not_found(view: &View<'_>) -> Response {
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(view.text("subscribers.not_found"), Vec::new()).link(
            format!("{}/subscribers", view.state.admin_path()),
            view.text("subscribers.back"),
        ),
    )
}

/// The times kept on the subscriber row, as history lines.
fn row_events(s: &Subscriber, view: &View<'_>) -> Vec<Event> {
    let at = |ms: i64| view.time(from_ms(ms));
    let created = match s.source.as_str() {
        "import" => "imported",
        "console" => "added",
        _ => "signed_up",
    };
    let mut out = vec![Event {
        at_ms: s.created_at,
        at: at(s.created_at),
        event: created.into(),
        actor: None,
        note: None,
    }];
    // Imports and console adds are confirmed at creation; only a sign-up confirms later.
    if let Some(c) = s.confirmed_at.filter(|c| *c != s.created_at) {
        out.push(Event {
            at_ms: c,
            at: at(c),
            event: "confirmed".into(),
            actor: None,
            note: None,
        });
    }
    for (t, key) in [
        (s.unsubscribed_at, "unsubscribed"),
        (s.bounced_at, "bounced"),
    ] {
        if let Some(t) = t {
            out.push(Event {
                at_ms: t,
                at: at(t),
                event: key.into(),
                actor: None,
                note: None,
            });
        }
    }
    out
}

/// `GET /admin/subscribers/{id}`.
#[tracing::instrument(skip_all)]
pub async fn show(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let Some((sub, _)) = (match id.parse::<i64>() {
        Ok(id) => state.store.subscriber_by_id(id).await?,
        Err(_) => None,
    }) else {
        return Ok(not_found(&view));
    };
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let (section_names, schedule_names) = super::names(&catalog, &view);
    let mut events = row_events(&sub, &view);
    for n in state.store.person_history(sub.id).await? {
        events.push(Event {
            at_ms: n.at,
            at: view.time(from_ms(n.at)),
            event: n.event,
            actor: Some(n.actor),
            note: n.note,
        });
    }
    events.sort_by_key(|e| e.at_ms);
    let deliveries: Vec<DeliveryRow> = state
        .store
        .person_deliveries(sub.id, DELIVERIES)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            run_id: d.run_id,
            schedule: super::title_of(&schedule_names, &d.schedule),
            at: view.time(from_ms(d.at)),
            status: d.status,
            reply: d.last_error,
        })
        .collect();
    let bounces: Vec<&DeliveryRow> = deliveries
        .iter()
        .filter(|d| d.status == "bounced")
        .collect();
    let suppression = state.store.suppression(sub.id).await?.map(|s| {
        context! {
            reason => s.reason,
            at => view.time(from_ms(s.at)),
            detail => s.detail,
        }
    });
    let returned: Vec<_> = state
        .store
        .inbound_records(sub.id, DELIVERIES.into())
        .await?
        .into_iter()
        .map(|r| {
            context! {
                at => view.time(from_ms(r.received_at)),
                kind => r.kind,
                run_id => r.run_id,
                status => r.status,
                detail => r.detail,
            }
        })
        .collect();
    let done = match params.get("done").map(String::as_str) {
        Some("added") => Some(view.text("subscribers.added")),
        Some("resent") => Some(view.text("subscribers.resent")),
        _ => None,
    };
    Ok(view.render(
        "admin/subscribers_person.html",
        &sub.email,
        StatusCode::OK,
        context! {
            sub => context! {
                id => sub.id,
                email => &sub.email,
                status => sub.status.as_str(),
                source => &sub.source,
                locale => &sub.locale,
                sections => super::sections_text(&sub, &section_names, &view),
                schedule => super::title_of(&schedule_names, &sub.schedule),
            },
            events => ser(&events),
            deliveries => ser(&deliveries),
            bounces => ser(&bounces),
            suppression => suppression,
            returned => returned,
            done => done,
        },
    ))
}

/// `GET /admin/subscribers/{id}/erase`: what erasing means, and the button.
pub async fn confirm_erase(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let Some((sub, _)) = (match id.parse::<i64>() {
        Ok(id) => state.store.subscriber_by_id(id).await?,
        Err(_) => None,
    }) else {
        return Ok(not_found(&view));
    };
    Ok(view.render(
        "admin/subscribers_erase.html",
        &view.text("subscribers.erase_title"),
        StatusCode::OK,
        context! { sub => context! { id => sub.id, email => &sub.email, status => sub.status.as_str() } },
    ))
}

/// `POST /admin/subscribers/{id}/erase`: erases the person, their tokens and history.
#[tracing::instrument(skip_all)]
pub async fn erase(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let Some((sub, _)) = (match id.parse::<i64>() {
        Ok(id) => state.store.subscriber_by_id(id).await?,
        Err(_) => None,
    }) else {
        return Ok(not_found(&view));
    };
    if !state.store.erase_subscriber(&sub.email).await? {
        return Ok(not_found(&view));
    }
    // The log keeps that someone was erased, not who: the address is what was erased.
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::SubscriberErase,
        &format!("subscriber #{}", sub.id),
        Some(&s.visit.client),
    )
    .change(Some(sub.status.as_str().into()), Some("erased".into()));
    state.store.record_audit(&audit, state.now_ms()).await?;
    tracing::info!(subscriber_id = sub.id, "subscriber erased in the console");
    Ok(Redirect::to(&format!("{}/subscribers?done=erased", state.admin_path())).into_response())
}
