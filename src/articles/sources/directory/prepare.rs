//! Files turned into articles ready to store, many at once and on every core: reading,
//! front matter, Markdown rendering and sanitising are CPU work that a bulk import would
//! otherwise do one file at a time on the async runtime (most of its cost, issue 15).

use std::{collections::HashSet, path::Path, sync::Arc};

use chrono_tz::Tz;

use super::{
    ArticlePath, FileError,
    files::{read_article_blocking, rejected},
};
use crate::domain::NewArticle;

/// What became of one file: the article to store, or why it cannot be.
pub type Prepared = (ArticlePath, Result<NewArticle, FileError>);

/// Reads, parses and validates one file as an article of `source`, the way ingest does
/// (`sections` are the known section slugs).
pub fn prepare_file(
    real_root: &Path,
    path: &ArticlePath,
    tz: Tz,
    source: &str,
    sections: &HashSet<String>,
) -> Result<NewArticle, FileError> {
    let mut file = read_article_blocking(real_root, path, tz)?;
    std::mem::take(&mut file.input)
        .into_new_article(&file.id, source, |slug| sections.contains(slug))
        .map_err(|e| rejected(&file, e))
}

/// [`prepare_file`] for each of `paths` on `workers` blocking threads; results in the order
/// of `paths`.
pub async fn prepare_batch(
    real_root: Arc<Path>,
    paths: Vec<ArticlePath>,
    tz: Tz,
    source: Arc<str>,
    sections: Arc<HashSet<String>>,
    workers: usize,
) -> Vec<Prepared> {
    let per_worker = paths.len().div_ceil(workers.max(1)).max(1);
    let mut rest = paths;
    let mut jobs = Vec::new();
    while !rest.is_empty() {
        let tail = rest.split_off(per_worker.min(rest.len()));
        let chunk = std::mem::replace(&mut rest, tail);
        let (root, source, sections) = (real_root.clone(), source.clone(), sections.clone());
        let copy = chunk.clone();
        let job = tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|p| {
                    let r = prepare_file(&root, &p, tz, &source, &sections);
                    (p, r)
                })
                .collect::<Vec<_>>()
        });
        jobs.push((copy, job));
    }
    let mut out = Vec::new();
    for (paths, job) in jobs {
        match job.await {
            Ok(done) => out.extend(done),
            // A panic in the renderer or sanitiser: these files are reported as failed and
            // the rest of the import goes on.
            Err(e) => out.extend(paths.into_iter().map(|p| {
                let message = format!("could not be prepared: {e}");
                (
                    p,
                    Err(FileError {
                        line: None,
                        message,
                    }),
                )
            })),
        }
    }
    out
}
