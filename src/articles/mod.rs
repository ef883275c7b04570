//! Articles: the model, validation of what publishers send, sanitising, excerpts, ingest.

mod excerpt;
mod ingest;
mod input;
mod plain_text;
pub mod publication;
mod sanitize;
pub mod sources;

/// The model lives in `domain` (the store depends on it, not on this module).
pub use crate::domain::{Article, ArticleStatus, Image, NewArticle};
pub use excerpt::{SUMMARY_CHARS, excerpt, html_to_text, summary_of};
pub use ingest::Ingest;
pub use input::{ArticleInput, ImageInput};
pub use sanitize::{markdown_to_html, sanitize_html};
