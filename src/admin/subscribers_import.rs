//! CSV import by upload, in two steps: the file is uploaded (multipart) and kept server-side
//! under a random id for the uploader; a preview shows its first valid rows and every
//! rejected line with its reason, validated as `POST /api/v1/subscribers/import` does; the
//! import then reads the kept file again (never a copy sent back by the browser), validates
//! it anew and stores it.

use axum::{
    extract::{Multipart, Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;

use super::super::{
    page::{Notice, View, ser},
    secret,
    session::AdminSession,
    state::ConsoleState,
};
use crate::{
    domain::{Audit, AuditKind},
    error::AppError,
    store::Upload,
    subscriptions::import::{ImportRules, import_csv, preview_csv},
};

/// Largest file accepted: every request body of the service is bounded by 2 MiB (the limit
/// of `http.rs`, which the console's guard also reads bodies up to), so a larger upload is
/// refused before it gets here.
pub const MAX_FILE: usize = 2 * 1024 * 1024;
/// Valid rows shown in a preview.
const SHOWN: usize = 20;
/// How long an upload waits for its import.
const KEEP_MS: i64 = 3_600_000;
/// Longest file name kept (characters).
const MAX_NAME: usize = 200;

fn form_page(view: &View<'_>, error: Option<String>, status: StatusCode) -> Response {
    view.render(
        "admin/subscribers_import.html",
        &view.text("subscribers.import_title"),
        status,
        context! { step => "upload", error => error, max_mb => MAX_FILE / (1024 * 1024) },
    )
}

/// `GET /admin/subscribers/import`: the upload form.
pub async fn form(State(state): State<ConsoleState>, s: AdminSession) -> Response {
    form_page(&View::new(&state, &s.visit), None, StatusCode::OK)
}

/// The file part of the upload form: its name and content, or the key of what was wrong.
async fn read_file(mut parts: Multipart) -> Result<(String, Vec<u8>), &'static str> {
    while let Some(mut field) = parts
        .next_field()
        .await
        .map_err(|_| "subscribers.errors.upload")?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name: String = field
            .file_name()
            .unwrap_or("upload.csv")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME)
            .collect();
        let mut content = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|_| "subscribers.errors.upload")?
        {
            if content.len() + chunk.len() > MAX_FILE {
                return Err("subscribers.errors.too_big");
            }
            content.extend_from_slice(&chunk);
        }
        if content.is_empty() {
            return Err("subscribers.errors.empty_file");
        }
        return Ok((name, content));
    }
    Err("subscribers.errors.no_file")
}

/// `POST /admin/subscribers/import?csrf=…` (multipart, field `file`): keeps the file and
/// shows its preview.
#[tracing::instrument(skip_all)]
pub async fn upload(
    State(state): State<ConsoleState>,
    s: AdminSession,
    parts: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let read = match parts {
        Ok(p) => read_file(p).await,
        Err(_) => Err("subscribers.errors.upload"),
    };
    let (filename, content) = match read {
        Ok(x) => x,
        Err(key) => {
            let msg = view
                .text(key)
                .replace("{max}", &(MAX_FILE / (1024 * 1024)).to_string());
            return Ok(form_page(
                &view,
                Some(msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let rules = ImportRules::load(&state.store, &state.config).await?;
    if let Err(why) = preview_csv(&rules, content.as_slice(), SHOWN) {
        let msg = format!("{} ({why})", view.text("subscribers.errors.header"));
        return Ok(form_page(
            &view,
            Some(msg),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let now = state.now_ms();
    let upload = Upload {
        id: secret::generate(),
        filename,
        content,
        expires_at: now + KEEP_MS,
    };
    state
        .store
        .put_upload(&upload, &s.me.account.email, now)
        .await?;
    Ok(Redirect::to(&format!(
        "{}/subscribers/import/{}",
        state.admin_path(),
        upload.id
    ))
    .into_response())
}

fn gone(view: &View<'_>) -> Response {
    view.notice(
        StatusCode::NOT_FOUND,
        Notice::error(
            view.text("subscribers.upload_gone"),
            vec![view.text("subscribers.upload_gone_body")],
        )
        .link(
            format!("{}/subscribers/import", view.state.admin_path()),
            view.text("subscribers.import_again"),
        ),
    )
}

async fn preview_page(
    state: &ConsoleState,
    view: &View<'_>,
    upload: &Upload,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let rules = ImportRules::load(&state.store, &state.config).await?;
    let preview = match preview_csv(&rules, upload.content.as_slice(), SHOWN) {
        Ok(p) => p,
        Err(why) => {
            let msg = format!("{} ({why})", view.text("subscribers.errors.header"));
            return Ok(form_page(view, Some(msg), StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    let (section_names, schedule_names) = {
        let catalog =
            crate::subscriptions::choices::Catalog::load(&state.store, &state.config).await?;
        super::names(&catalog, view)
    };
    let rows: Vec<_> = preview
        .rows
        .iter()
        .map(|r| {
            context! {
                line => r.line,
                email => &r.email,
                sections => match &r.sections {
                    None => vec![view.text("subscribers.all_sections")],
                    Some(list) => list.iter().map(|s| super::title_of(&section_names, s)).collect(),
                },
                schedule => super::title_of(&schedule_names, &r.schedule),
                locale => &r.locale,
            }
        })
        .collect();
    Ok(view.render(
        "admin/subscribers_import.html",
        &view.text("subscribers.preview_title"),
        status,
        context! {
            step => "preview",
            id => &upload.id,
            filename => &upload.filename,
            rows => rows,
            valid_total => preview.valid_total,
            more_rows => preview.valid_total > preview.rows.len() as u64,
            errors => ser(&preview.errors),
            errors_total => preview.errors_total,
            errors_unlisted => preview.errors_total - preview.errors.len() as u64,
            error => error,
        },
    ))
}

/// `GET /admin/subscribers/import/{upload}`: the preview of a kept upload.
pub async fn preview(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    match state
        .store
        .get_upload(&id, &s.me.account.email, state.now_ms())
        .await?
    {
        Some(u) => preview_page(&state, &view, &u, None, StatusCode::OK).await,
        None => Ok(gone(&view)),
    }
}

/// `POST /admin/subscribers/import/{upload}` with `consent=yes`: imports the kept file.
#[tracing::instrument(skip_all)]
pub async fn commit(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let now = state.now_ms();
    let me = &s.me.account.email;
    if f.get("consent").map(String::as_str) != Some("yes") {
        let Some(u) = state.store.get_upload(&id, me, now).await? else {
            return Ok(gone(&view));
        };
        let msg = view.text("subscribers.errors.consent");
        return preview_page(
            &state,
            &view,
            &u,
            Some(msg),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // Taken out first: a second click (or a second tab) finds nothing to import again.
    let Some(upload) = state.store.take_upload(&id, me, now).await? else {
        return Ok(gone(&view));
    };
    let rules = ImportRules::load(&state.store, &state.config).await?;
    let report = match import_csv(
        &state.store,
        &rules,
        upload.content.as_slice(),
        now,
        |_, _| {},
    )
    .await?
    {
        Ok(r) => r,
        Err(why) => {
            let msg = format!("{} ({why})", view.text("subscribers.errors.header"));
            return Ok(form_page(
                &view,
                Some(msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let audit = Audit::new(
        me,
        AuditKind::SubscriberImport,
        &format!("CSV {}", upload.filename),
        Some(&s.visit.client),
    )
    .change(
        None,
        Some(format!(
            "created {}, updated {}, left alone {}, rejected {}",
            report.created, report.updated, report.skipped_total, report.errors_total
        )),
    );
    state.store.record_audit(&audit, now).await?;
    tracing::info!(
        created = report.created,
        updated = report.updated,
        "subscribers imported in the console"
    );
    Ok(view.render(
        "admin/subscribers_import.html",
        &view.text("subscribers.imported_title"),
        StatusCode::OK,
        context! {
            step => "done",
            filename => &upload.filename,
            report => ser(&report),
        },
    ))
}
