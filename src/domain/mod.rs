//! Newtypes that validate once at the edge, and the article model; inner code trusts them.

mod article;
mod cron;
mod email;
mod mailbox;
mod slug;
mod text;
mod timezone;

pub use article::{Article, ArticleStatus, Image, NewArticle};
pub use cron::CronSpec;
pub use email::{Email, EmailError, MAX_EMAIL_LEN};
pub use mailbox::parse_mailbox;
pub use slug::SectionSlug;
pub use text::{check_text, strip_invalid_chars};
pub use timezone::TimeZone;
