//! `GET /admin`: the dashboard. Everyone sees the latest articles; admins also see
//! subscribers by status, the last runs, each enabled schedule's next fire time and the
//! sources that fail, and a 90-day growth chart ([`growth`]).

mod growth;

use axum::{extract::State, http::StatusCode, response::Response};
use minijinja::context;
use serde::Serialize;

use super::{
    page::{View, ser},
    session::EditorSession,
    state::ConsoleState,
};
use crate::{
    domain::{CronSpec, Role, SubscriberStatus, TimeZone},
    error::AppError,
};

/// Articles listed.
const ARTICLES: u32 = 10;
/// Runs listed.
const RUNS: u32 = 5;

#[derive(Serialize)]
struct ArticleRow {
    title: String,
    section: String,
    url: String,
    published: String,
    scheduled: bool,
}

#[derive(Serialize)]
struct RunRow {
    id: i64,
    schedule: String,
    started: String,
    status: &'static str,
    sent: i64,
    failed: i64,
    bounced: i64,
    total: i64,
}

#[derive(Serialize)]
struct ScheduleRow {
    slug: String,
    name: String,
    next: Option<String>,
    timezone: String,
}

#[derive(Serialize)]
struct SourceRow {
    name: String,
    kind: &'static str,
    target: String,
    failing: bool,
    pending: bool,
    last_error: Option<String>,
}

/// `GET /admin`.
pub async fn show(
    State(state): State<ConsoleState>,
    s: EditorSession,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let now = state.clock.now();
    let articles: Vec<ArticleRow> = state
        .store
        .list_articles(None, None, ARTICLES, None)
        .await?
        .items
        .into_iter()
        .map(|a| ArticleRow {
            scheduled: a.published_at > now,
            published: view.time(a.published_at),
            title: a.title,
            section: a.section,
            url: a.url,
        })
        .collect();
    let figures = if s.me.account.role == Role::Admin {
        Some(admin_figures(&state, &view).await?)
    } else {
        None
    };
    Ok(view.render(
        "admin/dashboard.html",
        &view.text("dashboard.title"),
        StatusCode::OK,
        context! { articles => ser(&articles), figures => figures },
    ))
}

async fn admin_figures(
    state: &ConsoleState,
    view: &View<'_>,
) -> Result<minijinja::Value, AppError> {
    let now = state.clock.now();
    let subscribers: Vec<(&'static str, i64)> = state
        .store
        .subscriber_counts()
        .await?
        .into_iter()
        .map(|(status, n)| (status.as_str(), n))
        .collect();
    let active = subscribers
        .iter()
        .find(|(s, _)| *s == SubscriberStatus::Active.as_str())
        .map_or(0, |(_, n)| *n);
    let chart = growth_chart(state, view, active).await?;
    let mut runs: Vec<RunRow> = Vec::new();
    for r in state.store.list_runs(None, None, RUNS).await? {
        runs.push(RunRow {
            id: r.id,
            started: view.time(r.fire_at.unwrap_or(r.created_at)),
            status: r.status.as_str(),
            sent: r.sent,
            failed: r.failed,
            bounced: r.bounced,
            total: r.total,
            // An announcement by its article's title.
            schedule: super::articles_announce::run_label(state, view, &r.schedule).await?,
        });
    }
    let mut schedules: Vec<ScheduleRow> = Vec::new();
    for s in state.store.list_schedules().await? {
        if !s.enabled {
            continue;
        }
        let next = match (CronSpec::parse(&s.cron), TimeZone::parse(&s.timezone)) {
            (Ok(cron), Ok(tz)) => crate::digests::fire::next_instants(&cron, tz.0, now, 1)
                .first()
                .copied(),
            // An instant schedule: its next mail, when something published waits for it.
            _ => {
                crate::digests::instant::pending_fire(&state.store, &s, crate::clock::to_ms(now))
                    .await?
            }
        };
        schedules.push(ScheduleRow {
            slug: s.slug,
            name: s.name,
            next: next.map(|t| view.time_in(t, &s.timezone)),
            timezone: s.timezone,
        });
    }
    let sources: Vec<SourceRow> = crate::api::sources::health(&state.config, &state.store)
        .await?
        .into_iter()
        .map(|h| SourceRow {
            kind: h.kind.as_str(),
            failing: h.status == "error",
            pending: h.status == "pending",
            last_error: h.last_error,
            name: h.name,
            target: h.target,
        })
        .collect();
    Ok(context! {
        subscribers => ser(&subscribers),
        growth => chart,
        runs => ser(&runs),
        schedules => ser(&schedules),
        sources => ser(&sources),
    })
}

/// The growth chart (SVG) and its summary line.
async fn growth_chart(
    state: &ConsoleState,
    view: &View<'_>,
    active: i64,
) -> Result<minijinja::Value, AppError> {
    let now = state.clock.now();
    let tz: chrono_tz::Tz = state.config.site.timezone.parse().unwrap_or(chrono_tz::UTC);
    // Every zone's day starts on a quarter hour: today begins at a whole bucket.
    let buckets = state
        .growth
        .buckets(
            &state.store,
            crate::clock::to_ms(growth::window_start(tz, now)),
            crate::clock::to_ms(growth::today_start(tz, now)),
            growth::BUCKET_MS,
        )
        .await?;
    let (days, net) = growth::days(tz, now, active, &buckets);
    let signups: i64 = days.iter().map(|d| d.signups).sum();
    let key = if net < 0 {
        "growth.summary_down"
    } else {
        "growth.summary"
    };
    let summary = view
        .text(key)
        .replace("{days}", &growth::DAYS.to_string())
        .replace("{net}", &growth::grouped(net.abs()))
        .replace("{signups}", &growth::grouped(signups))
        .replace("{active}", &growth::grouped(active));
    let labels = growth::Labels {
        title: view.text("growth.title"),
        summary: summary.clone(),
        active: view.text("growth.active"),
        signups: view.text("growth.signups"),
    };
    let svg = [growth::WIDE, growth::NARROW]
        .map(|size| growth::svg(&days, &labels, size))
        .concat();
    Ok(context! {
        svg => minijinja::Value::from_safe_string(svg),
        summary => summary,
        net => net,
        signups => signups,
        active_label => labels.active,
        signups_label => labels.signups,
    })
}
