//! Adding one person: either a confirmation mail through the public sign-up's path (its
//! queue, hourly budget and resend interval), or an admin vouching for consent with a written
//! reason (kept in the person's history and the audit log). Also "send the confirmation
//! again" for someone pending.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use form_fields::Fields;
use minijinja::context;

use super::super::{
    page::{Notice, View, ser},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    domain::{Audit, AuditKind, Email, Preferences, SubscriberStatus},
    error::AppError,
    subscriptions::{PageState, RESEND_INTERVAL_MS, choices::Catalog, outbox::Job, supported},
};

/// Longest consent reason, in characters.
const MAX_REASON: usize = 500;

/// Fields of a form whose checkboxes repeat a name (`sections`).
mod form_fields {
    use axum::{
        body::Bytes,
        extract::{FromRequest, Request},
        response::{IntoResponse, Response},
    };

    /// `application/x-www-form-urlencoded` pairs in order, names repeating.
    pub struct Fields(pub Vec<(String, String)>);

    impl Fields {
        /// The first value of `name`, trimmed (empty if missing).
        pub fn one(&self, name: &str) -> String {
            self.0
                .iter()
                .find(|(k, _)| k == name)
                .map_or_else(String::new, |(_, v)| v.trim().to_owned())
        }

        /// Every value of `name`.
        pub fn many(&self, name: &str) -> Vec<String> {
            self.0
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect()
        }
    }

    impl<S: Send + Sync> FromRequest<S> for Fields {
        type Rejection = Response;

        async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(Self(
                url::form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ))
        }
    }
}

/// What the form shows: what was typed, and the problems by field.
#[derive(Default)]
struct Typed {
    email: String,
    sections: Vec<String>,
    schedule: String,
    locale: String,
    mode: String,
    reason: String,
}

async fn render(
    state: &ConsoleState,
    s: &AdminSession,
    typed: &Typed,
    errors: &BTreeMap<&'static str, String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let view = View::new(state, &s.visit);
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let t = &state.templates;
    let locale = s.visit.locale;
    let sections = catalog.section_choices(t, locale, Some(&typed.sections));
    let schedule = (!typed.schedule.is_empty()).then_some(typed.schedule.as_str());
    let schedules = catalog.schedule_choices(t, locale, schedule);
    let sub_locale = if typed.locale.is_empty() {
        state.config.site.language.clone()
    } else {
        typed.locale.clone()
    };
    Ok(view.render(
        "admin/subscribers_new.html",
        &view.text("subscribers.new_title"),
        status,
        context! {
            email => &typed.email,
            sections => ser(&sections),
            schedules => ser(&schedules),
            sub_locale => sub_locale,
            mode => if typed.mode.is_empty() { "confirm" } else { typed.mode.as_str() },
            reason => &typed.reason,
            max_reason => MAX_REASON,
            errors => ser(errors),
        },
    ))
}

/// `GET /admin/subscribers/new`.
pub async fn form(
    State(state): State<ConsoleState>,
    s: AdminSession,
) -> Result<Response, AppError> {
    render(
        &state,
        &s,
        &Typed::default(),
        &BTreeMap::new(),
        StatusCode::OK,
    )
    .await
}

/// Queues a sign-up as `POST /subscribe` does: a queue slot and a unit of the hourly
/// budget, or the key of the string saying why not.
async fn queue_sign_up(
    pages: &PageState,
    email: &Email,
    prefs: &Preferences,
    now: i64,
) -> Result<Result<(), &'static str>, AppError> {
    let Ok(slot) = pages.outbox.try_reserve() else {
        return Ok(Err("subscribers.errors.busy"));
    };
    if pages.confirmations.take(&pages.store, now).await?.is_err() {
        return Ok(Err("subscribers.errors.budget"));
    }
    slot.send(Job::SignUp {
        email: email.clone(),
        prefs: prefs.clone(),
    });
    Ok(Ok(()))
}

/// `POST /admin/subscribers/new`.
#[tracing::instrument(skip_all)]
pub async fn submit(
    State(state): State<ConsoleState>,
    State(pages): State<PageState>,
    s: AdminSession,
    f: Fields,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let typed = Typed {
        email: f.one("email"),
        sections: f.many("sections"),
        schedule: f.one("schedule"),
        locale: f.one("locale"),
        mode: f.one("mode"),
        reason: f.one("reason"),
    };
    let catalog = Catalog::load(&state.store, &state.config).await?;
    let mut errors: BTreeMap<&'static str, String> = BTreeMap::new();
    let email = Email::parse(&typed.email);
    if email.is_err() {
        errors.insert("email", view.text("subscribers.errors.email"));
    }
    let sections = catalog.pick_sections(&typed.sections);
    if sections.is_err() {
        errors.insert("sections", view.text("subscribers.errors.section"));
    }
    let schedule = catalog.pick_schedule(Some(&typed.schedule));
    if schedule.is_err() {
        errors.insert("schedule", view.text("subscribers.errors.schedule"));
    }
    let locale = supported(&typed.locale);
    if locale.is_none() {
        errors.insert("locale", view.text("subscribers.errors.locale"));
    }
    let consent = match typed.mode.as_str() {
        "confirm" => false,
        "consent" => true,
        _ => {
            errors.insert("mode", view.text("subscribers.errors.mode"));
            false
        }
    };
    if consent && typed.reason.is_empty() {
        errors.insert("reason", view.text("subscribers.errors.reason_empty"));
    } else if typed.reason.chars().count() > MAX_REASON
        || typed
            .reason
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        errors.insert(
            "reason",
            view.text("subscribers.errors.reason_bad")
                .replace("{max}", &MAX_REASON.to_string()),
        );
    }
    let (Ok(email), Ok(sections), Ok(schedule), Some(locale), true) =
        (email, sections, schedule, locale, errors.is_empty())
    else {
        return render(
            &state,
            &s,
            &typed,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let normalised = email.as_str().to_owned();
    if let Some(known) = state.store.subscriber_by_email(&normalised).await? {
        errors.insert(
            "email",
            view.text("subscribers.errors.known").replace(
                "{status}",
                &view.text(&format!("subscribers.statuses.{}", known.status)),
            ),
        );
        return render(&state, &s, &typed, &errors, StatusCode::CONFLICT).await;
    }
    let prefs = Preferences {
        sections,
        schedule,
        locale: locale.to_owned(),
    };
    let now = state.now_ms();
    let summary = format!(
        "schedule {}, sections {}, locale {}",
        prefs.schedule,
        prefs
            .sections
            .as_ref()
            .map_or("all".into(), |s| s.join(" ")),
        prefs.locale
    );
    if consent {
        let audit = Audit::new(
            &s.me.account.email,
            AuditKind::SubscriberAdd,
            &format!("subscriber {normalised}"),
            Some(&s.visit.client),
        )
        .change(
            None,
            Some(format!("active by consent ({summary}): {}", typed.reason)),
        );
        let Some(id) = state
            .store
            .add_consented_subscriber(&normalised, &prefs, &typed.reason, &audit, now)
            .await?
        else {
            // Someone signed up in between.
            errors.insert("email", view.text("subscribers.errors.known_now"));
            return render(&state, &s, &typed, &errors, StatusCode::CONFLICT).await;
        };
        return Ok(Redirect::to(&format!(
            "{}/subscribers/{id}?done=added",
            state.admin_path()
        ))
        .into_response());
    }
    if let Err(key) = queue_sign_up(&pages, &email, &prefs, now).await? {
        errors.insert("form", view.text(key));
        return render(&state, &s, &typed, &errors, StatusCode::TOO_MANY_REQUESTS).await;
    }
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::SubscriberAdd,
        &format!("subscriber {normalised}"),
        Some(&s.visit.client),
    )
    .change(
        None,
        Some(format!("pending, confirmation mail sent ({summary})")),
    );
    state.store.record_audit(&audit, now).await?;
    Ok(view.notice(
        StatusCode::OK,
        Notice {
            title: view.text("subscribers.mail_sent_title"),
            lines: vec![
                view.text("subscribers.mail_sent_body")
                    .replace("{email}", &normalised),
            ],
            ..Notice::default()
        }
        .link(
            format!("{}/subscribers", state.admin_path()),
            view.text("subscribers.back"),
        ),
    ))
}

/// `POST /admin/subscribers/{id}/resend`: a new confirmation mail for someone pending.
#[tracing::instrument(skip_all)]
pub async fn resend(
    State(state): State<ConsoleState>,
    State(pages): State<PageState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let Some((sub, last)) = (match id.parse::<i64>() {
        Ok(id) => state.store.subscriber_by_id(id).await?,
        Err(_) => None,
    }) else {
        return Ok(super::person::not_found(&view));
    };
    let back = format!("{}/subscribers/{}", state.admin_path(), sub.id);
    let refuse = |key: &str, status| {
        view.notice(
            status,
            Notice::error(
                view.text("subscribers.resend_refused"),
                vec![view.text(key)],
            )
            .link(back.clone(), view.text("subscribers.back_person")),
        )
    };
    if sub.status != SubscriberStatus::Pending {
        return Ok(refuse(
            "subscribers.errors.not_pending",
            StatusCode::CONFLICT,
        ));
    }
    let now = state.now_ms();
    if last.is_some_and(|t| now - t < RESEND_INTERVAL_MS) {
        return Ok(refuse(
            "subscribers.errors.too_soon",
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let email = Email::parse(&sub.email)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored address does not parse: {e:?}")))?;
    let prefs = Preferences {
        sections: (!sub.all_sections).then(|| sub.sections.clone()),
        schedule: sub.schedule.clone(),
        locale: sub.locale.clone(),
    };
    if let Err(key) = queue_sign_up(&pages, &email, &prefs, now).await? {
        return Ok(refuse(key, StatusCode::TOO_MANY_REQUESTS));
    }
    let audit = Audit::new(
        &s.me.account.email,
        AuditKind::SubscriberResend,
        &format!("subscriber {}", sub.email),
        Some(&s.visit.client),
    );
    state
        .store
        .note_subscriber_event(sub.id, "confirmation_sent", &audit, now)
        .await?;
    Ok(Redirect::to(&format!("{back}?done=resent")).into_response())
}
