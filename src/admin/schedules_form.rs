//! The schedule form: what it holds as typed, its page, and creating and replacing a
//! schedule through the API's own validation (errors shown next to their field). A schedule is
//! a digest (a cron) or instant (a window); its name is given in the site's language and, in a
//! second field, in the other one.

use super::*;

/// What the schedule form holds, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ScheduleForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    /// The name in the other language than the site's (the console has two); a form without
    /// the field keeps the stored one.
    #[serde(default)]
    other_name: Option<String>,
    /// `digest` or `instant`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cron: String,
    /// An instant schedule's window, as typed (`10m`).
    #[serde(default)]
    window: String,
    #[serde(default)]
    timezone: String,
    /// Checkboxes: present ("on") when ticked.
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    send_when_empty: Option<String>,
    #[serde(default)]
    max_articles: String,
    #[serde(default)]
    first_digest_articles: String,
}

/// The other language than the site's, whose name the form's second name field holds.
pub(super) fn other_locale(site_locale: &str) -> &'static str {
    if site_locale == "en" { "zh-CN" } else { "en" }
}

impl ScheduleForm {
    fn of(s: &Schedule, other_name: String) -> Self {
        Self {
            slug: s.slug.clone(),
            name: s.name.clone(),
            other_name: Some(other_name),
            kind: s.kind.as_str().to_owned(),
            window: s.window().map(|w| w.as_text()).unwrap_or_default(),
            first_digest_articles: s.first_digest_articles.to_string(),
            cron: s.cron.clone(),
            timezone: s.timezone.clone(),
            enabled: s.enabled.then(|| "on".into()),
            send_when_empty: s.send_when_empty.then(|| "on".into()),
            max_articles: s.max_articles.to_string(),
        }
    }

    /// The fields to store, or an error message per field (in `view`'s language).
    fn validate(
        &self,
        view: &View<'_>,
        default_tz: &str,
        site_locale: &str,
    ) -> Result<ScheduleFields, HashMap<&'static str, String>> {
        let mut errors = HashMap::new();
        let mut number = |key: &'static str, typed: &str| match typed.trim() {
            "" => None,
            n => match n.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.insert(key, view.text(&format!("schedules.errors.{key}")));
                    None
                }
            },
        };
        let max_articles = number("max_articles", &self.max_articles);
        let first_digest_articles = number("first_digest_articles", &self.first_digest_articles);
        let instant = self.kind == "instant";
        let typed = |s: &str| Some(s.trim().to_owned()).filter(|t| !t.is_empty());
        let input = ScheduleInput {
            name: Some(self.name.clone()),
            // An emptied field removes that language's name; a form without it keeps it.
            names: (self.other_name.clone())
                .map(|n| [(other_locale(site_locale).to_owned(), n)].into()),
            kind: Some(if instant { "instant" } else { "digest" }.to_owned()),
            // The other kind's field is ignored, so switching kinds keeps what was typed.
            cron: typed(&self.cron).filter(|_| !instant),
            window: typed(&self.window).filter(|_| instant),
            timezone: typed(&self.timezone),
            enabled: Some(self.enabled.is_some()),
            send_when_empty: Some(self.send_when_empty.is_some()),
            max_articles,
            first_digest_articles,
        };
        match input.validate(default_tz, site_locale) {
            Ok(fields) if errors.is_empty() => Ok(fields),
            Ok(_) => Err(errors),
            Err(AppError::Invalid { message, field }) => {
                let field = match field.as_deref() {
                    Some("name") => "name",
                    Some(f) if f.starts_with("names") => "other_name",
                    Some("cron") => "cron",
                    Some("window") => "window",
                    Some("timezone") => "timezone",
                    Some("first_digest_articles") => "first_digest_articles",
                    _ => "max_articles",
                };
                let lead = view.text(&format!("schedules.errors.{field}"));
                // Cron and zone errors carry the parser's detail (in English).
                let text = lead.replace("{detail}", &message);
                errors.entry(field).or_insert(text);
                Err(errors)
            }
            Err(e) => {
                errors.insert("name", e.to_string());
                Err(errors)
            }
        }
    }
}

/// Renders the form: `slug` is `None` when creating.
fn form_page(
    state: &ConsoleState,
    s: &AdminSession,
    status: StatusCode,
    editing: Option<&str>,
    form: &ScheduleForm,
    errors: &HashMap<&'static str, String>,
) -> Response {
    let view = View::new(state, &s.visit);
    let site_locale = site_locale_of(state);
    let other = other_locale(site_locale);
    let title = match editing {
        Some(_) => view.text("schedules.edit_title"),
        None => view.text("schedules.new_title"),
    };
    let action = match editing {
        Some(slug) => format!("{}/schedules/{slug}", state.admin_path()),
        None => format!("{}/schedules", state.admin_path()),
    };
    view.render(
        "admin/schedules_form.html",
        &title,
        status,
        context! {
            editing => editing,
            action => action,
            form => ser(form),
            errors => ser(errors),
            zones => ser(&ZONES),
            site_timezone => &state.config.site.timezone,
            name_label => view.text(&format!("schedules.name_in.{site_locale}")),
            other_name_label => view.text(&format!("schedules.name_in.{other}")),
        },
    )
}

/// `GET /admin/schedules/new`.
pub async fn new_form(State(state): State<ConsoleState>, s: AdminSession) -> Response {
    let form = ScheduleForm {
        timezone: state.config.site.timezone.clone(),
        enabled: Some("on".into()),
        max_articles: "20".into(),
        first_digest_articles: "3".into(),
        kind: "digest".into(),
        window: "10m".into(),
        cron: "0 8 * * *".into(),
        ..ScheduleForm::default()
    };
    form_page(&state, &s, StatusCode::OK, None, &form, &HashMap::new())
}

/// `GET /admin/schedules/{slug}/edit`.
pub async fn edit_form(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let Some(sch) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    let other = other_locale(site_locale_of(&state));
    let other_name = (state.store.schedule_texts().await?.remove(&sch.slug))
        .and_then(|mut m| m.remove(other))
        .unwrap_or_default();
    Ok(form_page(
        &state,
        &s,
        StatusCode::OK,
        Some(&sch.slug),
        &ScheduleForm::of(&sch, other_name),
        &HashMap::new(),
    ))
}

/// `POST /admin/schedules`: creates a schedule (its slug must be new).
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let slug = form.slug.trim().to_owned();
    let mut slug_error = None;
    match SectionSlug::parse(&slug) {
        Err(_) => slug_error = Some(view.text("schedules.errors.slug")),
        Ok(_) if state.store.get_schedule(&slug).await?.is_some() => {
            slug_error = Some(view.text("schedules.errors.slug_taken"))
        }
        Ok(_) => {}
    }
    let checked = form.validate(&view, &state.config.site.timezone, site_locale_of(&state));
    let fields = match (checked, slug_error) {
        (Ok(fields), None) => fields,
        (checked, slug_error) => {
            let mut errors = checked.err().unwrap_or_default();
            if let Some(e) = slug_error {
                errors.insert("slug", e);
            }
            return Ok(form_page(
                &state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                &form,
                &errors,
            ));
        }
    };
    let now = state.now_ms();
    state.store.put_schedule(&slug, &fields, now).await?;
    let entry = audit(&s, AuditKind::ScheduleCreate, &slug).change(None, Some(summary(&fields)));
    state.store.record_audit(&entry, now).await?;
    tracing::info!(slug, "schedule created in the console");
    Ok(done(&state, "created", &slug))
}

/// `POST /admin/schedules/{slug}`: replaces a schedule's fields; takes effect at once.
#[tracing::instrument(skip_all)]
pub async fn update(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Path(slug): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, AppError> {
    let Some(before) = state.store.get_schedule(&slug).await? else {
        return Ok(not_found(&state, &s));
    };
    let view = View::new(&state, &s.visit);
    let fields = match form.validate(&view, &state.config.site.timezone, site_locale_of(&state)) {
        Ok(f) => f,
        Err(errors) => {
            return Ok(form_page(
                &state,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&before.slug),
                &form,
                &errors,
            ));
        }
    };
    save(&state, &s, &before, fields).await?;
    Ok(done(&state, "saved", &slug))
}

/// Stores `fields` for `before`'s slug and records the change.
pub(super) async fn save(
    state: &ConsoleState,
    s: &AdminSession,
    before: &Schedule,
    fields: ScheduleFields,
) -> Result<(), AppError> {
    let now = state.now_ms();
    state.store.put_schedule(&before.slug, &fields, now).await?;
    let entry = audit(s, AuditKind::ScheduleUpdate, &before.slug)
        .change(Some(summary(&fields_of(before))), Some(summary(&fields)));
    state.store.record_audit(&entry, now).await?;
    tracing::info!(slug = before.slug, "schedule changed in the console");
    Ok(())
}

/// The site's language, which a schedule's `name` is written in.
pub(super) fn site_locale_of(state: &ConsoleState) -> &'static str {
    crate::subscriptions::supported(&state.config.site.language).unwrap_or("zh-CN")
}
