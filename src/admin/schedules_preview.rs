//! Digest previews and test sends, for editors and admins (SPEC §9): `GET /admin/previews`
//! lists the schedules by name; `GET /admin/schedules/{slug}/preview?email=` shows what that
//! subscriber would get from a run now (or why they would get nothing), the mail itself in a
//! sandboxed frame served by `…/preview/mail` under its own strict policy (mail HTML has
//! inline styles, which the console's policy forbids); `POST /admin/schedules/{slug}/test`
//! mails that digest to the person's own address through the normal mailer, without a
//! delivery row or a watermark, at most [`TEST_SENDS_PER_HOUR`] an hour per person.

use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{not_found_in, row, rows};
use crate::{
    AppState,
    admin::{
        Route,
        page::{View, ser},
        session::EditorSession,
        state::ConsoleState,
    },
    digests::selection::Skip,
    domain::{Audit, AuditKind, Email, Schedule, Subscriber},
    error::AppError,
};

/// Test digests one person may send per hour.
pub const TEST_SENDS_PER_HOUR: i64 = 10;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/admin/previews", previews),
        Route::get("/admin/schedules/{slug}/preview", show),
        Route::get("/admin/schedules/{slug}/preview/mail", mail),
        Route::post("/admin/schedules/{slug}/test", test_send),
    ]
}

/// `GET /admin/previews`: every schedule with a form to preview it.
pub async fn previews(
    State(state): State<ConsoleState>,
    s: EditorSession,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let now = state.clock.now();
    let schedules = state.store.list_schedules().await?;
    let rows = rows(&state, schedules, s.visit.locale, now).await?;
    Ok(view.render(
        "admin/schedules_previews.html",
        &view.text("previews.title"),
        StatusCode::OK,
        context! { schedules => ser(&rows) },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct EmailQuery {
    #[serde(default)]
    email: String,
    /// `1` after a test digest went out.
    #[serde(default)]
    sent: String,
}

/// The subscriber a preview is for, or the message saying why there is none.
async fn subscriber(
    state: &ConsoleState,
    view: &View<'_>,
    raw: &str,
) -> Result<Result<Subscriber, String>, AppError> {
    let email = match Email::parse(raw.trim()) {
        Ok(e) => e,
        Err(_) => return Ok(Err(view.text("previews.errors.email"))),
    };
    Ok(
        match state.store.subscriber_by_email(email.as_str()).await? {
            Some(sub) => Ok(sub),
            None => Err(view.text("previews.errors.no_subscriber")),
        },
    )
}

/// What the preview page says about one subscriber.
#[derive(Serialize, Default)]
struct Outcome {
    email: String,
    status: String,
    /// The subscriber's own schedule, when it is not this one.
    other_schedule: Option<String>,
    subject: Option<String>,
    frame_url: Option<String>,
    skipped: Option<String>,
}

/// The reason a run would mail nothing, in the page's language.
fn skip_text(view: &View<'_>, why: Skip) -> String {
    let text = view.text(&format!("previews.skip.{}", why.code()));
    match why {
        Skip::NotActive(status) => text.replace(
            "{status}",
            &view.text(&format!("previews.statuses.{}", status.as_str())),
        ),
        // Their watermark (or confirmation), on the site's wall clock as every console time.
        Skip::NothingNew { since } => {
            text.replace("{since}", &view.time(crate::clock::from_ms(since)))
        }
        _ => text,
    }
}

/// Renders the preview page; `message` is a note about a test send (`ok`, text).
async fn page(
    app: &AppState,
    state: &ConsoleState,
    s: &EditorSession,
    sch: &Schedule,
    email: &str,
    message: Option<(bool, String)>,
) -> Result<Response, AppError> {
    let view = View::new(state, &s.visit);
    let admin = state.admin_path();
    let mut error = None;
    let mut outcome = None;
    if !email.trim().is_empty() {
        match subscriber(state, &view, email).await? {
            Err(e) => error = Some(e),
            Ok(sub) => {
                let mut o = Outcome {
                    email: sub.email.clone(),
                    status: view.text(&format!("previews.statuses.{}", sub.status.as_str())),
                    other_schedule: (sub.schedule != sch.slug).then(|| sub.schedule.clone()),
                    ..Outcome::default()
                };
                match app.digests.compose_now(sch, sub.id).await? {
                    Ok(mail) => {
                        let mut q = url::form_urlencoded::Serializer::new(String::new());
                        q.append_pair("email", &sub.email);
                        o.subject = Some(mail.subject);
                        o.frame_url = Some(format!(
                            "{admin}/schedules/{}/preview/mail?{}",
                            sch.slug,
                            q.finish()
                        ));
                    }
                    Err(why) => o.skipped = Some(skip_text(&view, why)),
                }
                outcome = Some(o);
            }
        }
    }
    let description = row(sch.clone(), s.visit.locale, state.clock.now(), None).description;
    let mut resp = view.render(
        "admin/schedules_preview.html",
        &view.text("previews.page_title").replace("{name}", &sch.name),
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        context! {
            schedule => context! { slug => &sch.slug, name => &sch.name, description => description },
            email => email,
            error => error,
            outcome => ser(&outcome),
            message => message.as_ref().map(|(ok, text)| context! { ok => ok, text => text }),
            my_email => &s.me.account.email,
            per_hour => TEST_SENDS_PER_HOUR,
        },
    );
    // The digest is shown in a frame of this site: this page may frame it (and only it).
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    Ok(resp)
}

/// `GET /admin/schedules/{slug}/preview?email=`.
pub async fn show(
    State(app): State<AppState>,
    State(state): State<ConsoleState>,
    s: EditorSession,
    Path(slug): Path<String>,
    Query(q): Query<EmailQuery>,
) -> Result<Response, AppError> {
    let Some(sch) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found_in(&state, &s.visit));
    };
    let message = (q.sent == "1").then(|| {
        let view = View::new(&state, &s.visit);
        (
            true,
            view.text("previews.test_sent")
                .replace("{email}", &s.me.account.email),
        )
    });
    page(&app, &state, &s, &sch, &q.email, message).await
}

/// `GET /admin/schedules/{slug}/preview/mail?email=`: the digest's HTML alone, for the
/// preview's frame. Mail HTML is the site's own template with article titles escaped, but
/// it is shown under a policy of its own all the same: no script, no form, no plugin, a
/// unique origin (`sandbox`), inline styles and remote images only, framed by this site only.
pub async fn mail(
    State(app): State<AppState>,
    State(state): State<ConsoleState>,
    s: EditorSession,
    Path(slug): Path<String>,
    Query(q): Query<EmailQuery>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let Some(sch) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found_in(&state, &s.visit));
    };
    let html = match subscriber(&state, &view, &q.email).await? {
        Err(e) => Err(e),
        Ok(sub) => match app.digests.compose_now(&sch, sub.id).await? {
            Ok(mail) => Ok(mail.html.unwrap_or_default()),
            Err(why) => Err(skip_text(&view, why)),
        },
    };
    let (status, body) = match html {
        Ok(html) => (StatusCode::OK, html),
        Err(text) => (
            StatusCode::NOT_FOUND,
            format!(
                "<!doctype html><meta charset=\"utf-8\"><p>{}</p>",
                html_escape::encode_text(&text)
            ),
        ),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; \
             font-src https: data:; form-action 'none'; base-uri 'none'; \
             frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox",
        ),
    );
    Ok(resp)
}

/// Fields of the test-send form.
#[derive(Debug, Default, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    email: String,
}

/// `POST /admin/schedules/{slug}/test`: mails the digest `email` would get now to the
/// person's own address. Not a delivery: no ledger row, no watermark, no derived token.
#[tracing::instrument(skip_all)]
pub async fn test_send(
    State(app): State<AppState>,
    State(state): State<ConsoleState>,
    s: EditorSession,
    Path(slug): Path<String>,
    Form(f): Form<TestForm>,
) -> Result<Response, AppError> {
    let Some(sch) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found_in(&state, &s.visit));
    };
    let view = View::new(&state, &s.visit);
    let me = &s.me.account.email;
    let now = state.now_ms();
    let sent_lately = state
        .store
        .count_audit_since(me, AuditKind::ScheduleTestSend, now - 3_600_000)
        .await?;
    if sent_lately >= TEST_SENDS_PER_HOUR {
        let text = view
            .text("previews.errors.limit")
            .replace("{n}", &TEST_SENDS_PER_HOUR.to_string());
        let mut resp = page(&app, &state, &s, &sch, &f.email, Some((false, text))).await?;
        *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(resp);
    }
    let sub = match subscriber(&state, &view, &f.email).await? {
        Ok(sub) => sub,
        Err(_) => return page(&app, &state, &s, &sch, &f.email, None).await,
    };
    let mut mail = match app.digests.compose_now(&sch, sub.id).await? {
        Ok(mail) => mail,
        Err(why) => {
            let text = skip_text(&view, why);
            return page(&app, &state, &s, &sch, &f.email, Some((false, text))).await;
        }
    };
    let to = Email::parse(me).map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    mail.to = to;
    mail.to_name = None;
    mail.subject = format!("{} {}", view.text("previews.test_prefix"), mail.subject);
    // The list headers would unsubscribe the subscriber it was composed for: none on a test.
    mail.headers.clear();
    mail.message_id = None;
    if let Err(e) = app.mailer.send(&mail).await {
        tracing::warn!(error = %e, "test digest not sent");
        let text = view
            .text("previews.errors.send")
            .replace("{error}", &e.to_string());
        let mut resp = page(&app, &state, &s, &sch, &f.email, Some((false, text))).await?;
        *resp.status_mut() = StatusCode::BAD_GATEWAY;
        return Ok(resp);
    }
    let entry = Audit::new(
        me,
        AuditKind::ScheduleTestSend,
        &format!("schedule {slug}"),
        Some(&s.visit.client),
    )
    .change(None, Some(format!("as {} to {me}", sub.email)));
    state.store.record_audit(&entry, now).await?;
    tracing::info!(slug, "test digest sent");
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("email", &sub.email).append_pair("sent", "1");
    Ok(Redirect::to(&format!(
        "{}/schedules/{slug}/preview?{}",
        state.admin_path(),
        q.finish()
    ))
    .into_response())
}
