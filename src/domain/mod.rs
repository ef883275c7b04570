//! Newtypes that validate once at the edge; inner code trusts them.

mod cron;
mod email;
mod mailbox;
mod slug;
mod text;
mod timezone;

pub use cron::CronSpec;
pub use email::{Email, EmailError, MAX_EMAIL_LEN};
pub use mailbox::parse_mailbox;
pub use slug::SectionSlug;
pub use text::{check_text, strip_invalid_chars};
pub use timezone::TimeZone;
