//! Directory source: `path/<section>/<slug>.md|.html` scanned at start, then watched live.
//! Create, edit, rename and delete reach the feeds within a second; a bad file is reported
//! with its path and line and skipped, and the watcher keeps going.

mod files;
pub mod front_matter;
#[cfg(test)]
mod front_matter_tests;
mod prepare;
mod watch;

use std::{
    collections::{BTreeMap, HashSet},
    path::PathBuf,
    sync::Mutex,
};

use chrono_tz::Tz;

pub use files::{ArticlePath, article_path, describe, ingest_file, list_files, read_file};
pub use front_matter::{BodyFormat, FileError};
pub use prepare::{FileBatch, Prepared, Ready, prepare_batch, prepare_file};
use watch::{Batch, Watcher};

use super::{
    PollReport,
    health::{self, Polled},
};
use crate::{
    AppState, clock::to_ms, config::Config, domain::SourceType, error::AppError, store::PutResult,
};

/// A `kind = "directory"` source.
pub struct DirectorySource {
    /// The folder as configured (shown in messages).
    pub path: PathBuf,
    /// Zone of front matter dates written without an offset (`site.timezone`).
    pub timezone: Tz,
}

impl DirectorySource {
    /// A source on `path`; dates without offset are read in `site.timezone`.
    pub fn new(path: PathBuf, site: &Config) -> Self {
        Self {
            path,
            timezone: site.site_timezone().0,
        }
    }
}

/// Everything one running directory source needs.
struct Ctx<'a> {
    state: &'a AppState,
    name: &'a str,
    src: &'a DirectorySource,
    /// The folder with symbolic links resolved, as watch events name it.
    root: PathBuf,
    display: String,
    /// Files that could not be used, by key, with what is wrong: the source stays in error
    /// until each is fixed or removed.
    bad: Mutex<BTreeMap<String, String>>,
}

/// Scans the folder, then applies each batch of changes until shutdown.
pub async fn run(state: AppState, name: String, src: DirectorySource) {
    let display = src.path.display().to_string();
    let root = match tokio::fs::canonicalize(&src.path).await {
        Ok(r) => r,
        Err(e) => {
            let e = anyhow::anyhow!("directory {display} cannot be opened: {e}");
            health::record(&state, &name, SourceType::Directory, Err(e)).await;
            return;
        }
    };
    let ctx = Ctx {
        state: &state,
        name: &name,
        src: &src,
        root,
        display,
        bad: Mutex::default(),
    };
    // Watch before the first scan, so that nothing changed during the scan is missed.
    let watcher = Watcher::start(&ctx.root);
    ctx.finish(ctx.scan().await).await;
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            let e = anyhow::anyhow!("cannot watch {}: {e}; changes need a restart", ctx.display);
            health::record(&state, &name, SourceType::Directory, Err(e)).await;
            return;
        }
    };
    tracing::info!(source = %name, path = %ctx.display, "watching content directory");
    loop {
        let batch = tokio::select! {
            _ = state.shutdown.cancelled() => return,
            b = watcher.next_batch() => b,
        };
        let report = match batch {
            None => return,
            Some(Batch::Rescan) => ctx.scan().await,
            Some(Batch::Paths(paths)) => ctx.apply(paths).await,
        };
        ctx.finish(report).await;
    }
}

impl Ctx<'_> {
    /// Records the batch in the source's health, with the number of files it now yields.
    async fn finish(&self, mut report: PollReport) {
        match self.state.store.count_source_items(self.name).await {
            Ok(n) => report.items_found = n as usize,
            Err(e) => report.failed.push(format!("{e:#}")),
        }
        let carried = self
            .bad
            .lock()
            .expect("bad files lock")
            .values()
            .filter(|m| !report.failed.contains(m))
            .cloned()
            .collect();
        let polled = Polled {
            report,
            validators: None,
            carried,
        };
        health::record(self.state, self.name, SourceType::Directory, Ok(polled)).await;
    }

    /// Brings every file in, and retracts the articles of files no longer there.
    async fn scan(&self) -> PollReport {
        let mut report = PollReport::default();
        let root = self.root.clone();
        let listed = tokio::task::spawn_blocking(move || list_files(&root)).await;
        let paths = match listed {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                report
                    .failed
                    .push(format!("{}: cannot be listed: {e}", self.display));
                return report;
            }
            Err(e) => {
                report
                    .failed
                    .push(format!("{}: listing failed: {e}", self.display));
                return report;
            }
        };
        for p in &paths {
            self.upsert(p, &mut report).await;
        }
        let present: HashSet<&str> = paths.iter().map(|p| p.key.as_str()).collect();
        self.bad
            .lock()
            .expect("bad files lock")
            .retain(|key, _| present.contains(key.as_str()));
        match self.state.store.source_items(self.name).await {
            Ok(items) => {
                for item in items
                    .iter()
                    .filter(|i| !present.contains(i.item_key.as_str()))
                {
                    self.remove(&item.item_key, &mut report).await;
                }
            }
            Err(e) => report.failed.push(format!("{e:#}")),
        }
        report
    }

    /// Applies a batch of changed paths: files present are (re)read first, then the articles
    /// of files gone are retracted, so that a rename keeping its `id` never retracts it.
    async fn apply(&self, paths: Vec<PathBuf>) -> PollReport {
        let mut report = PollReport::default();
        let mut gone = Vec::new();
        for path in paths {
            let Ok(rel) = path.strip_prefix(&self.root) else {
                continue;
            };
            if rel.components().count() <= 1 && rel.extension().is_none() {
                // A section folder was created, renamed or removed: compare everything.
                return self.scan().await;
            }
            let Some(p) = article_path(rel) else {
                continue;
            };
            if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
                self.upsert(&p, &mut report).await;
            } else {
                gone.push(p.key);
            }
        }
        for key in gone {
            self.remove(&key, &mut report).await;
        }
        report
    }

    /// Reads one file and stores its article; a bad file is reported and left as it was.
    async fn upsert(&self, p: &ArticlePath, report: &mut PollReport) {
        let store = &self.state.store;
        let parsed = match read_file(&self.root, p, self.src.timezone).await {
            Ok((file, hash)) => match ingest_file(&self.state.ingest, self.name, &file).await {
                Ok(outcome) => Ok((file, hash, outcome)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (file, hash, outcome) = match parsed {
            Ok(ok) => {
                self.mark_good(&p.key);
                ok
            }
            Err(e) => {
                let message = describe(&self.display, &p.key, &e);
                self.bad
                    .lock()
                    .expect("bad files lock")
                    .insert(p.key.clone(), message.clone());
                return report.failed.push(message);
            }
        };
        match outcome.result {
            PutResult::Created => report.created += 1,
            PutResult::Updated => report.updated += 1,
            PutResult::Unchanged => report.unchanged += 1,
        }
        let previous = store.source_item(self.name, &p.key).await.ok().flatten();
        let now = to_ms(self.state.clock.now());
        let recorded = store
            .put_source_item(self.name, &p.key, &file.id, &hash, &Default::default(), now)
            .await;
        if let Err(e) = recorded {
            return report.failed.push(format!("{e:#}"));
        }
        // The file's `id` was edited: the article it used to be is gone unless another file
        // still yields it.
        if let Some(old) = previous.filter(|prev| prev.article_id != file.id) {
            match store
                .source_article_claimed(self.name, &old.article_id)
                .await
            {
                Ok(false) => self.retract(&old.article_id, report).await,
                Ok(true) => {}
                Err(e) => report.failed.push(format!("{e:#}")),
            }
        }
    }

    fn mark_good(&self, key: &str) {
        self.bad.lock().expect("bad files lock").remove(key);
    }

    /// The file `key` is gone: retract its article unless another file still yields it.
    async fn remove(&self, key: &str, report: &mut PollReport) {
        self.mark_good(key);
        match self.state.store.remove_source_item(self.name, key).await {
            Ok(Some((id, false))) => self.retract(&id, report).await,
            Ok(_) => {}
            Err(e) => report.failed.push(format!("{e:#}")),
        }
    }

    async fn retract(&self, id: &str, report: &mut PollReport) {
        match self.state.ingest.retract(id).await {
            Ok(()) => report.retracted += 1,
            // Already retracted (through the API, say): nothing left to do.
            Err(AppError::NotFound(_)) => {}
            Err(e) => report.failed.push(format!("retract {id}: {e:#}")),
        }
    }
}
