//! The layout of a content folder (`<section>/<slug>.md|.html`), reading one file, and
//! storing it through ingest with errors pointed at the line they concern.

use std::path::{Component, Path};

use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use super::front_matter::{self, BodyFormat, FileArticle, FileError};
use crate::{articles::Ingest, error::AppError, store::PutOutcome};

/// Largest article file read, in bytes.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A path the layout accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticlePath {
    /// `<section>/<file name>` with `/` separators: the item key in `source_items`.
    pub key: String,
    pub section: String,
    pub slug: String,
    pub format: BodyFormat,
}

/// `news/green-compute.md` → an article path; anything else (deeper, hidden, editor
/// backups, other extensions) → `None`.
pub fn article_path(rel: &Path) -> Option<ArticlePath> {
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let [section, file] = parts.as_slice() else {
        return None;
    };
    if section.starts_with('.') || file.starts_with(['.', '#', '~']) || file.ends_with('~') {
        return None;
    }
    let (slug, ext) = file.rsplit_once('.')?;
    let format = match ext.to_ascii_lowercase().as_str() {
        "md" | "markdown" => BodyFormat::Markdown,
        "html" | "htm" => BodyFormat::Html,
        _ => return None,
    };
    if slug.is_empty() {
        return None;
    }
    Some(ArticlePath {
        key: format!("{section}/{file}"),
        section: (*section).to_owned(),
        slug: slug.to_owned(),
        format,
    })
}

/// Every article file below `root`, sorted by key.
pub fn list_files(root: &Path) -> std::io::Result<Vec<ArticlePath>> {
    let mut out = Vec::new();
    for section in std::fs::read_dir(root)? {
        let section = section?;
        if !section.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(section.path())? {
            let file = file?;
            // A link is listed like a file: `read_file` decides, the same way as for a link
            // the watcher reports (refused when it leads outside the folder).
            let kind = file.file_type()?;
            if !kind.is_file() && !kind.is_symlink() {
                continue;
            }
            let rel = Path::new(&section.file_name()).join(file.file_name());
            if let Some(p) = article_path(&rel) {
                out.push(p);
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Reads and parses `root/<key>`; also returns a hash of its bytes. The reading and parsing
/// run on a blocking thread, off the async runtime.
pub async fn read_file(
    root: &Path,
    path: &ArticlePath,
    tz: Tz,
) -> Result<(FileArticle, String), FileError> {
    let (root, path) = (root.to_path_buf(), path.clone());
    tokio::task::spawn_blocking(move || {
        let real_root = std::fs::canonicalize(&root).map_err(unreadable)?;
        read_file_blocking(&real_root, &path, tz)
    })
    .await
    .map_err(|e| FileError {
        line: None,
        message: format!("could not be read: {e}"),
    })?
}

fn unreadable(e: std::io::Error) -> FileError {
    FileError {
        line: None,
        message: format!("cannot be read: {e}"),
    }
}

/// [`read_file`] on the calling thread, below `real_root` (the source folder with symbolic
/// links resolved, which a bulk reader resolves once rather than per file).
pub fn read_file_blocking(
    real_root: &Path,
    path: &ArticlePath,
    tz: Tz,
) -> Result<(FileArticle, String), FileError> {
    let bytes = read_bytes(real_root, path)?;
    let hash = hex::encode(Sha256::digest(&bytes));
    Ok((parse_bytes(path, bytes, tz)?, hash))
}

/// Parses the bytes of the file at `path` (read with [`read_bytes`]) as an article.
pub fn parse_bytes(path: &ArticlePath, bytes: Vec<u8>, tz: Tz) -> Result<FileArticle, FileError> {
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        FileError {
            line: Some(e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1),
            message: "is not UTF-8 text; save it as UTF-8".into(),
        }
    })?;
    front_matter::parse(&path.section, &path.slug, path.format, &text, tz)
}

/// The bytes of `real_root/<key>`. Never read outside the source folder: a link (of the file
/// or of its section folder) that resolves elsewhere (another folder, /etc/passwd,
/// /proc/self/environ) is refused.
pub fn read_bytes(real_root: &Path, path: &ArticlePath) -> Result<Vec<u8>, FileError> {
    use std::{io::Read, os::unix::fs::OpenOptionsExt};
    let joined = real_root.join(&path.key);
    // When neither the section folder nor the file is a link, the file is where its path
    // says (`key` has two plain components and `real_root` no links). Two `lstat`s instead of
    // `canonicalize`, which reads every component of the path as a link: a tenth of the cost
    // of preparing a file for `tidings import` (issue 15). The file is then opened with
    // O_NOFOLLOW, so one swapped for a link meanwhile is refused, not followed.
    let section = joined.parent().unwrap_or(real_root);
    let section_is_link = std::fs::symlink_metadata(section)
        .map_err(unreadable)?
        .file_type()
        .is_symlink();
    let own = std::fs::symlink_metadata(&joined).map_err(unreadable)?;
    let (real, meta, flags) = if !section_is_link && !own.file_type().is_symlink() {
        (joined, own, libc::O_NOFOLLOW)
    } else {
        let real = std::fs::canonicalize(&joined).map_err(unreadable)?;
        if !real.starts_with(real_root) {
            return Err(FileError {
                line: None,
                message: "is a link to a file outside the source folder; refused".into(),
            });
        }
        let meta = std::fs::metadata(&real).map_err(unreadable)?;
        (real, meta, 0)
    };
    // Checked before opening: opening a named pipe would wait for a writer. O_NONBLOCK (no
    // effect on reading a regular file) keeps one swapped in meanwhile from blocking, and the
    // open file is checked again.
    let not_regular = || FileError {
        line: None,
        message: "is not a regular file".into(),
    };
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags | libc::O_NONBLOCK)
        .open(&real)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let too_large = || FileError {
        line: None,
        message: format!("is larger than {MAX_FILE_BYTES} bytes"),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // At most one byte past the limit, for a file that grew since.
    (&mut file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Stores a parsed file as `source`; a rejected field is reported on its front matter line.
pub async fn ingest_file(
    ingest: &Ingest,
    source: &str,
    file: &FileArticle,
) -> Result<PutOutcome, FileError> {
    ingest
        .put(&file.id, file.input.clone(), source)
        .await
        .map_err(|e| rejected(file, e))
}

/// What a refusal of `file` says, pointed at the front matter line of the field it names.
pub fn rejected(file: &FileArticle, e: AppError) -> FileError {
    match e {
        AppError::Invalid { message, field } | AppError::BadRequest { message, field } => {
            let line = field.as_deref().and_then(|f| file.line_of(f));
            FileError { line, message }
        }
        other => FileError {
            line: None,
            message: format!("could not be stored: {other:#}"),
        },
    }
}

/// `content/news/x.md:3: message` (or without the line when unknown).
pub fn describe(root_display: &str, key: &str, e: &FileError) -> String {
    let path = Path::new(root_display).join(key);
    match e.line {
        Some(line) => format!("{}:{line}: {}", path.display(), e.message),
        None => format!("{}: {}", path.display(), e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_section_slash_file_with_a_known_extension_is_an_article() {
        let p = article_path(Path::new("news/green.md")).unwrap();
        assert_eq!(
            (p.key.as_str(), p.section.as_str(), p.slug.as_str()),
            ("news/green.md", "news", "green")
        );
        assert_eq!(
            article_path(Path::new("about/intro.HTML")).unwrap().format,
            BodyFormat::Html
        );
        for ignored in [
            "README.md",
            "news/a/b.md",
            "news/.hidden.md",
            "news/x.md~",
            "news/.#x.md",
            "news/x.txt",
            ".git/x.md",
            "news/.md",
        ] {
            assert_eq!(article_path(Path::new(ignored)), None, "{ignored}");
        }
    }

    #[test]
    fn a_named_pipe_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("news")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join("news/pipe.md"))
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::write(dir.path().join("news/real.md"), "x").unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pipe = article_path(Path::new("news/pipe.md")).unwrap();
            let real = article_path(Path::new("news/real.md")).unwrap();
            let _ = tx.send((read_bytes(&root, &pipe), read_bytes(&root, &real)));
        });
        let (pipe, real) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a named pipe must not wait for a writer");
        assert_eq!(pipe.unwrap_err().message, "is not a regular file");
        assert_eq!(real.unwrap(), b"x");
    }
}
