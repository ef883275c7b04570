//! `tidings import DIR`: a one-off import of a folder laid out like a directory source, with a
//! progress bar. Works next to a running server: it opens the database, not the port, and
//! tells the servers which sections each committed batch changed.
//!
//! A pipeline of batches (issue 15): files are read, rendered and sanitised on every core,
//! one batch ahead of the batch being stored, so at most three batches are in memory; each
//! batch is stored with set-based statements (`Store::put_articles_bulk`), under the same
//! rules and with the same summary as one article at a time.
//!
//! Each file stored is remembered with a digest of its bytes (`Store::put_import_files`): an
//! import of the same folder again recognises the files that did not change, whose articles
//! nobody changed since either, by their digest alone, and does not parse, render or sanitise
//! them again. Re-importing a large archive with a few edits costs reading and hashing it.

use std::{
    collections::HashSet,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use super::directory::{
    ArticlePath, FileBatch, FileError, Prepared, Ready, describe, list_files, prepare_batch,
    prepare_file,
};
use crate::{
    clock::{Clock, to_ms},
    config::Config,
    domain::NewArticle,
    events::external,
    store::{ImportedFile, PutResult, Store},
};

/// Source name recorded on imported articles.
pub const IMPORT_SOURCE: &str = "import";

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Of the unchanged, the files recognised by their digest (not parsed again).
    pub recognised: usize,
    /// One line per file that was not imported: path, line and what is wrong.
    pub failed: Vec<String>,
}

/// Imports every `<section>/<slug>.md|.html` below `dir` into the configured database.
pub async fn run(config: &Config, dir: &Path, progress: bool) -> anyhow::Result<ImportSummary> {
    let started = Instant::now();
    let files = {
        let owned = dir.to_path_buf();
        tokio::task::spawn_blocking(move || list_files(&owned))
            .await
            .context("list files")?
            .with_context(|| format!("read folder {}", dir.display()))?
    };
    let real_root: Arc<Path> = tokio::fs::canonicalize(dir)
        .await
        .with_context(|| format!("open folder {}", dir.display()))?
        .into();
    let store = Store::connect(&config.database.url).await?;
    store.migrate().await?;
    let clock = Clock::System;
    store
        .ensure_sections(&config.section_seeds(), crate::clock::to_ms(clock.now()))
        .await?;
    let sections: Arc<HashSet<String>> = Arc::new(
        store
            .list_sections()
            .await?
            .into_iter()
            .map(|s| s.slug)
            .collect(),
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
    let total = files.len();
    let (tx, mut rx) = mpsc::channel::<Vec<Prepared>>(1);
    let tz = config.site_timezone().0;
    let source: Arc<str> = IMPORT_SOURCE.into();
    let producer = {
        let batch = store.bulk_batch_size();
        // Twice the cores: a worker waiting for its file to come off the disk leaves its core
        // to another, and the batch's last chunk is smaller.
        let workers = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
        let (store, source, real_root, sections) = (
            store.clone(),
            source.clone(),
            real_root.clone(),
            sections.clone(),
        );
        tokio::spawn(async move {
            let mut busy = Duration::ZERO;
            for chunk in files.chunks(batch) {
                let t = Instant::now();
                let (root, source, sections) =
                    (real_root.clone(), source.clone(), sections.clone());
                let keys: Vec<String> = chunk.iter().map(|p| p.key.clone()).collect();
                // Without them every file is read as new: slower, never wrong.
                let known = store.known_import_files(&keys).await.unwrap_or_else(|e| {
                    tracing::warn!(error = ?e, "files of earlier imports unknown; reading all");
                    Default::default()
                });
                let batch = FileBatch {
                    paths: chunk.to_vec(),
                    known,
                };
                let prepared = prepare_batch(root, batch, tz, source, sections, workers);
                let prepared = prepared.await;
                busy += t.elapsed();
                if tx.send(prepared).await.is_err() {
                    break;
                }
            }
            busy
        })
    };
    let mut importer = Importer {
        store: store.clone(),
        clock,
        bar,
        progress,
        display: dir.display().to_string(),
        summary: ImportSummary::default(),
        storing: Duration::ZERO,
        written: HashSet::new(),
        prepare: Arc::new(Reprepare {
            real_root,
            tz,
            source,
            sections,
        }),
    };
    while let Some(prepared) = rx.recv().await {
        importer.batch(prepared).await;
    }
    let preparing = producer.await.context("prepare files")?;
    importer.bar.finish_and_clear();
    // One ANALYZE for the whole import (when it wrote enough), before the command returns.
    let written = (importer.summary.created + importer.summary.updated) as u64;
    if let Err(e) = store.analyze_after_article_import(written).await {
        tracing::warn!(error = ?e, "the articles' statistics were not refreshed");
    }
    tracing::info!(
        files = total,
        took = ?started.elapsed(),
        preparing = ?preparing,
        storing = ?importer.storing,
        recognised = importer.summary.recognised,
        "import finished"
    );
    store.close().await;
    Ok(importer.summary)
}

/// The storing end of the pipeline.
struct Importer {
    store: Store,
    clock: Clock,
    bar: ProgressBar,
    progress: bool,
    display: String,
    summary: ImportSummary,
    /// Time spent storing and announcing.
    storing: Duration,
    /// Ids of the articles this import stored so far.
    written: HashSet<String>,
    prepare: Arc<Reprepare>,
}

/// What preparing one file again takes.
struct Reprepare {
    real_root: Arc<Path>,
    tz: chrono_tz::Tz,
    source: Arc<str>,
    sections: Arc<HashSet<String>>,
}

/// An article ready to store: the file's key, the article, the file's digest.
type ToStore = (String, NewArticle, String);

impl Importer {
    /// Stores one prepared batch in file order; an id that repeats starts a new batch, so
    /// that a later file wins over an earlier one as it would one at a time.
    async fn batch(&mut self, prepared: Vec<Prepared>) {
        let t = Instant::now();
        let n = prepared.len() as u64;
        let mut articles: Vec<ToStore> = Vec::new();
        let mut ids = HashSet::new();
        for (path, result) in prepared {
            let result = match result {
                // Another file of this import stored this article: this one is read again
                // to have the last word, as it would one file at a time.
                Ok(Ready::Known(id)) if self.written.contains(&id) => {
                    self.again(path.clone()).await
                }
                other => other,
            };
            match result {
                Ok(Ready::Article(a, digest)) => {
                    let a = *a;
                    if !ids.insert(a.id.clone()) {
                        self.store_all(std::mem::take(&mut articles)).await;
                        ids = HashSet::from([a.id.clone()]);
                    }
                    self.written.insert(a.id.clone());
                    articles.push((path.key, a, digest));
                }
                Ok(Ready::Known(_)) => {
                    self.summary.unchanged += 1;
                    self.summary.recognised += 1;
                }
                Err(e) => self.fail(&path.key, &e),
            }
        }
        self.store_all(articles).await;
        self.bar.inc(n);
        self.storing += t.elapsed();
    }

    /// Prepares the file at `path` again, as a file no import stored before.
    async fn again(&self, path: ArticlePath) -> Result<Ready, FileError> {
        let r = self.prepare.clone();
        let job = tokio::task::spawn_blocking(move || {
            prepare_file(&r.real_root, &path, r.tz, &r.source, &r.sections, None)
        });
        job.await.unwrap_or_else(|e| {
            Err(FileError {
                line: None,
                message: format!("could not be prepared: {e}"),
            })
        })
    }

    async fn store_all(&mut self, articles: Vec<ToStore>) {
        let Some((last, _, _)) = articles.last() else {
            return;
        };
        self.bar.set_message(last.clone());
        let mut keys = Vec::with_capacity(articles.len());
        let mut digests = Vec::with_capacity(articles.len());
        let mut batch = Vec::with_capacity(articles.len());
        for (key, a, digest) in articles {
            keys.push(key);
            batch.push(a);
            digests.push(digest);
        }
        let articles = batch;
        let now = self.clock.now();
        // The content hash of each article stored; `None` for one that was not.
        let (changed, hashes) = match self.store.put_articles_bulk(&articles, now).await {
            Ok(outcome) => {
                outcome.results.iter().for_each(|r| self.count(*r));
                let hashes = outcome.content_hashes.into_iter().map(Some).collect();
                (outcome.changed_sections, hashes)
            }
            Err(e) => {
                // Whatever failed (a row written meanwhile by the server, a section removed
                // meanwhile), one at a time says which files it concerns.
                tracing::warn!(error = ?e, "storing a batch failed; storing its files one by one");
                self.one_by_one(&keys, &articles).await
            }
        };
        let files: Vec<ImportedFile> = keys
            .into_iter()
            .zip(digests)
            .zip(&articles)
            .zip(hashes)
            .filter_map(|(((key, digest), a), hash)| {
                Some(ImportedFile {
                    key,
                    digest,
                    article_id: a.id.clone(),
                    article_hash: hash?,
                })
            })
            .collect();
        if let Err(e) = self.store.put_import_files(&files, to_ms(now)).await {
            // The next import reads these files again: slower, never wrong.
            tracing::warn!(error = ?e, "the imported files were not remembered");
        }
        if let Err(e) = external::announce(&self.store, &changed, self.clock.now()).await {
            tracing::warn!(error = ?e, ?changed, "running servers were not told of this change");
        }
    }

    /// The articles of a batch that could not be stored at once; the sections they changed,
    /// and the content hash of each one stored.
    async fn one_by_one(
        &mut self,
        keys: &[String],
        articles: &[NewArticle],
    ) -> (Vec<String>, Vec<Option<String>>) {
        let mut changed = Vec::new();
        let mut hashes = Vec::with_capacity(articles.len());
        for (key, a) in keys.iter().zip(articles) {
            let result = self.store.put_article(a, self.clock.now()).await;
            hashes.push(result.is_ok().then(|| a.content_hash()));
            match result {
                Ok(outcome) => {
                    self.count(outcome.result);
                    changed.extend(outcome.changed_sections);
                }
                Err(e) => {
                    let message = format!("could not be stored: {e:#}");
                    self.fail(
                        key,
                        &FileError {
                            line: None,
                            message,
                        },
                    );
                }
            }
        }
        changed.sort();
        changed.dedup();
        (changed, hashes)
    }

    fn count(&mut self, result: PutResult) {
        match result {
            PutResult::Created => self.summary.created += 1,
            PutResult::Updated => self.summary.updated += 1,
            PutResult::Unchanged => self.summary.unchanged += 1,
        }
    }

    fn fail(&mut self, key: &str, e: &FileError) {
        let line = describe(&self.display, key, e);
        if self.progress {
            self.bar.println(format!("skipped {line}"));
        } else {
            eprintln!("skipped {line}");
        }
        self.summary.failed.push(line);
    }
}
