//! The model: what tidings is about (articles, sections, subscribers, schedules, runs and
//! deliveries), every status and kind as an enum, and newtypes that validate once at the edge
//! so inner code can trust them. It depends on no other module of the crate; `store` reads
//! and writes these values, services and handlers use them.

mod admin;
mod article;
mod cron;
pub mod describe;
mod display;
mod email;
mod mailbox;
mod run;
mod schedule;
mod section;
mod serde_time;
mod slug;
mod status;
mod subscriber;
mod text;
mod timezone;

pub use admin::{Account, ApiToken, Audit, AuditEntry, LoginAttempt};
pub use article::{Article, ArticleStatus, Image, NewArticle};
pub use cron::CronSpec;
pub use display::{DisplayNames, TextsBySlug};
pub use email::{Email, EmailError, MAX_EMAIL_LEN};
pub use mailbox::parse_mailbox;
pub use run::{Delivery, Run};
pub use schedule::{
    ANNOUNCEMENT_PREFIX, InstantWindow, MAX_FIRST_DIGEST_ARTICLES, Schedule, ScheduleChoice,
    ScheduleFields, announced_article, announcement_run_name,
};
pub use section::Section;
pub use slug::SectionSlug;
pub use status::{
    AuditKind, DeliveryStatus, LoginOutcome, Role, RunFigure, RunStatus, ScheduleKind, SourceType,
    SubscriberStatus, TokenKind, UnknownValue,
};
pub use subscriber::{Preferences, Subscriber};
pub use text::{check_text, strip_invalid_chars, upper_first};
pub use timezone::TimeZone;
