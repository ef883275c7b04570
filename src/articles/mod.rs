//! Articles: the model, validation of what publishers send, sanitising, excerpts, ingest.

mod excerpt;
mod ingest;
mod input;
mod model;
pub mod publication;
mod sanitize;
pub mod sources;

pub use excerpt::{excerpt, html_to_text};
pub use ingest::Ingest;
pub use input::{ArticleInput, ImageInput};
pub use model::{Article, ArticleStatus, Image, NewArticle};
pub use sanitize::{markdown_to_html, sanitize_html};
