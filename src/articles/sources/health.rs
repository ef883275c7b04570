//! Source health: every poll's outcome goes to `source_state`, the metrics and the log, so that
//! a source that fails or suddenly yields nothing is seen instead of failing silently.

use std::sync::atomic::Ordering::Relaxed;

use url::Url;

use super::{
    Fetcher, PollReport,
    fetch::{Fetched, Page},
};
use crate::{AppState, clock::to_ms, domain::SourceType, store::Validators};

/// Longest `last_error` kept, in characters.
const MAX_ERROR_CHARS: usize = 2000;

/// The outcome of one poll before it is recorded.
pub(super) struct Polled {
    pub report: PollReport,
    /// Validators of the list page or feed, stored only when every item was handled so that
    /// a failed item is retried next time instead of being hidden behind a 304.
    pub validators: Option<Validators>,
    /// Failures reported by earlier polls that still hold (a directory's bad files): they
    /// keep the source in error without being counted or logged again.
    pub carried: Vec<String>,
}

/// Fetches `url` for source `name` with the validators of its last complete poll: the page,
/// or (`Err`) the finished outcome of an unchanged one (its earlier item count, no new
/// validators).
pub(super) async fn fetch_unless_unchanged(
    state: &AppState,
    fetcher: &Fetcher,
    name: &str,
    url: &Url,
) -> anyhow::Result<Result<Page, Polled>> {
    let known = state.store.source_state(name).await?;
    let validators = known.as_ref().map(|s| Validators {
        etag: s.etag.clone(),
        last_modified: s.last_modified.clone(),
    });
    Ok(match fetcher.get(url, validators.as_ref()).await? {
        Fetched::Page(page) => Ok(page),
        Fetched::NotModified => Err(Polled {
            report: PollReport {
                not_modified: true,
                items_found: known.map_or(0, |s| s.items_found.max(0) as usize),
                ..PollReport::default()
            },
            validators: None,
            carried: Vec::new(),
        }),
    })
}

/// Records `result` for source `name` and hands the report back.
pub(super) async fn record(
    state: &AppState,
    name: &str,
    kind: SourceType,
    result: anyhow::Result<Polled>,
) -> PollReport {
    let now = to_ms(state.clock.now());
    let previous = match state.store.source_state(name).await {
        Ok(s) => s.map(|s| s.items_found).unwrap_or(0),
        Err(e) => {
            tracing::error!(source = name, "read source state: {e:#}");
            0
        }
    };
    let (report, stored) = match result {
        Ok(Polled {
            report,
            validators,
            carried,
        }) if report.failed.is_empty() && carried.is_empty() => {
            let found = report.items_found as i64;
            let validators = validators.filter(|_| !report.not_modified);
            let stored = state
                .store
                .record_source_success(name, kind, found, validators.as_ref(), now)
                .await;
            if report.created + report.updated + report.retracted > 0 {
                tracing::info!(
                    source = name,
                    created = report.created,
                    updated = report.updated,
                    retracted = report.retracted,
                    "source brought changes"
                );
            }
            (report, stored)
        }
        Ok(Polled {
            report, carried, ..
        }) => {
            state
                .metrics
                .source_errors
                .fetch_add(report.failed.len() as u64, Relaxed);
            for f in &report.failed {
                tracing::warn!(source = name, "source item skipped: {f}");
            }
            let all: Vec<&String> = report.failed.iter().chain(&carried).collect();
            let summary = summarise(&all);
            let stored = state
                .store
                .record_source_error(name, kind, &summary, Some(report.items_found as i64), now)
                .await;
            (report, stored)
        }
        Err(e) => {
            state.metrics.source_errors.fetch_add(1, Relaxed);
            let message = clip(&format!("{e:#}"));
            tracing::warn!(source = name, "source poll failed: {message}");
            let stored = state
                .store
                .record_source_error(name, kind, &message, None, now)
                .await;
            let report = PollReport {
                failed: vec![message],
                items_found: previous as usize,
                ..PollReport::default()
            };
            (report, stored)
        }
    };
    if previous > 0 && report.items_found == 0 && !report.not_modified {
        tracing::warn!(
            source = name,
            previous,
            "source used to find {previous} items and now finds none; has the page layout or the feed changed?"
        );
    }
    if let Err(e) = stored {
        tracing::error!(source = name, "record source health: {e:#}");
    }
    report
}

/// One line for `last_error`: the first failure and how many there were.
fn summarise(failed: &[&String]) -> String {
    let first = failed.first().map(|s| s.as_str()).unwrap_or("");
    let text = match failed.len() {
        1 => first.to_owned(),
        n => format!("{n} items failed; first: {first}"),
    };
    clip(&text)
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_ERROR_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_ERROR_CHARS).collect();
    out.push('…');
    out
}
