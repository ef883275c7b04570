//! `tidings import DIR`: a one-off import of a folder laid out like a directory source, with a
//! progress bar. Works next to a running server: it opens the database, not the port.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::directory::{describe, ingest_file, list_files, read_file};
use crate::{
    articles::Ingest, clock::Clock, config::Config, events::Events, metrics::Metrics,
    store::PutResult, store::Store,
};

/// Source name recorded on imported articles.
pub const IMPORT_SOURCE: &str = "import";

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// One line per file that was not imported: path, line and what is wrong.
    pub failed: Vec<String>,
}

/// Imports every `<section>/<slug>.md|.html` below `dir` into the configured database.
pub async fn run(config: &Config, dir: &Path, progress: bool) -> anyhow::Result<ImportSummary> {
    let files = {
        let owned = dir.to_path_buf();
        tokio::task::spawn_blocking(move || list_files(&owned))
            .await
            .context("list files")?
            .with_context(|| format!("read folder {}", dir.display()))?
    };
    let store = Store::connect(&config.database.url).await?;
    store.migrate().await?;
    let clock = Clock::System;
    store
        .ensure_sections(&config.section_seeds(), crate::clock::to_ms(clock.now()))
        .await?;
    let ingest = Ingest::new(
        store.clone(),
        Events::new(),
        clock,
        Arc::new(Metrics::default()),
    );
    let bar = if progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} {wide_msg}")
            .context("progress style")?,
    );
    let tz = config.site_timezone().0;
    let display = dir.display().to_string();
    let mut summary = ImportSummary::default();
    for path in &files {
        bar.set_message(path.key.clone());
        let result = match read_file(dir, path, tz).await {
            Ok((file, _)) => ingest_file(&ingest, IMPORT_SOURCE, &file).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(o) => match o.result {
                PutResult::Created => summary.created += 1,
                PutResult::Updated => summary.updated += 1,
                PutResult::Unchanged => summary.unchanged += 1,
            },
            Err(e) => {
                let line = describe(&display, &path.key, &e);
                if progress {
                    bar.println(format!("skipped {line}"));
                } else {
                    eprintln!("skipped {line}");
                }
                summary.failed.push(line);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    store.close().await;
    Ok(summary)
}
