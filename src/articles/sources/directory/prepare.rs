//! Files turned into articles ready to store, many at once and on every core: reading,
//! front matter, Markdown rendering and sanitising are CPU work that a bulk import would
//! otherwise do one file at a time on the async runtime (most of its cost, issue 15).

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Arc,
};

use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use super::{
    ArticlePath, FileError,
    files::{parse_bytes, read_bytes, rejected},
};
use crate::{domain::NewArticle, store::KnownFile};

/// What is ready of one file.
#[derive(Debug)]
pub enum Ready {
    /// An article to store, with the digest of what it was made from ([`file_digest`]).
    Article(Box<NewArticle>, String),
    /// The same bytes an earlier import stored, and its article untouched since: storing it
    /// again would change nothing. The article's id.
    Known(String),
}

/// What became of one file: ready, or why it cannot be.
pub type Prepared = (ArticlePath, Result<Ready, FileError>);

/// The digest of a file's bytes together with what else decides the article they make: the
/// importer's version (its rules of rendering and sanitising) and the time zone of dates
/// without one. Another version or time zone reads every file again.
pub fn file_digest(tz: Tz, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(concat!("tidings import ", env!("CARGO_PKG_VERSION"), "\0"));
    h.update(tz.name());
    h.update("\0");
    h.update(bytes);
    hex::encode(h.finalize())
}

/// Reads, parses and validates one file as an article of `source`, the way ingest does
/// (`sections` are the known section slugs); a file whose digest is `known`'s is not parsed.
pub fn prepare_file(
    real_root: &Path,
    path: &ArticlePath,
    tz: Tz,
    source: &str,
    sections: &HashSet<String>,
    known: Option<&KnownFile>,
) -> Result<Ready, FileError> {
    let bytes = read_bytes(real_root, path)?;
    let digest = file_digest(tz, &bytes);
    if let Some(k) = known.filter(|k| k.digest == digest) {
        return Ok(Ready::Known(k.article_id.clone()));
    }
    let mut file = parse_bytes(path, bytes, tz)?;
    std::mem::take(&mut file.input)
        .into_new_article(&file.id, source, |slug| sections.contains(slug))
        .map(|a| Ready::Article(Box::new(a), digest))
        .map_err(|e| rejected(&file, e))
}

/// The files of a batch and what is known of them.
pub struct FileBatch {
    pub paths: Vec<ArticlePath>,
    /// Files of earlier imports whose articles are untouched since, by key.
    pub known: HashMap<String, KnownFile>,
}

/// [`prepare_file`] for each file of `batch` on `workers` blocking threads; results in the order
/// of its paths.
pub async fn prepare_batch(
    real_root: Arc<Path>,
    batch: FileBatch,
    tz: Tz,
    source: Arc<str>,
    sections: Arc<HashSet<String>>,
    workers: usize,
) -> Vec<Prepared> {
    let FileBatch { paths, known } = batch;
    let known = Arc::new(known);
    let per_worker = paths.len().div_ceil(workers.max(1)).max(1);
    let mut rest = paths;
    let mut jobs = Vec::new();
    while !rest.is_empty() {
        let tail = rest.split_off(per_worker.min(rest.len()));
        let chunk = std::mem::replace(&mut rest, tail);
        let (root, source, sections) = (real_root.clone(), source.clone(), sections.clone());
        let known = known.clone();
        let copy = chunk.clone();
        let job = tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|p| {
                    let r = prepare_file(&root, &p, tz, &source, &sections, known.get(&p.key));
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
