//! Why a subscriber gets no mail from a run, and that reason as a person reads it (the
//! preview's note, in the reader's language and time zone).

use std::fmt;

use chrono_tz::Tz;

use crate::{clock::from_ms, domain::SubscriberStatus};

/// Why a subscriber gets no mail from a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The subscriber was erased after the run was planned (the worker's own case: there is
    /// nobody left to decide about).
    Erased,
    /// Not active (any more): unsubscribed, bounced, or never confirmed.
    NotActive(SubscriberStatus),
    /// They chose sections, and none of them exists any more.
    NoSections,
    /// Nothing new in their sections since `since` (ms: where their previous mail of this
    /// schedule ended, or when they confirmed), and the schedule does not send empty digests.
    NothingNew { since: i64 },
    /// An announcement whose article was retracted (or rescheduled) before this mail was due.
    ArticleGone,
}

impl Skip {
    /// A short stable name, for logs and the preview's answer.
    pub fn code(self) -> &'static str {
        match self {
            Skip::Erased => "erased",
            Skip::NotActive(_) => "not_active",
            Skip::NoSections => "no_sections",
            Skip::NothingNew { .. } => "nothing_new",
            Skip::ArticleGone => "article_gone",
        }
    }

    /// The reason in `locale` (zh… or English), instants on the wall clock of `tz`:
    /// "nothing new since 2026-11-30 08:00".
    pub fn explain(self, locale: &str, tz: Tz) -> String {
        let zh = locale.to_ascii_lowercase().starts_with("zh");
        match (self, zh) {
            (Skip::NothingNew { since }, true) => format!(
                "自 {} 以来，所选栏目没有新文章，且这个计划没有新文章时不发送",
                local(since, tz)
            ),
            (Skip::NothingNew { since }, false) => format!(
                "nothing new since {} in their sections, and the schedule does not send empty \
                 digests",
                local(since, tz)
            ),
            (Skip::NotActive(s), true) => {
                format!("订阅状态是“{}”，只有有效订阅者才会收到邮件", status_zh(s))
            }
            (Skip::NoSections, true) => "所选栏目都已不存在".to_owned(),
            (Skip::Erased, true) => "订阅者资料已被删除".to_owned(),
            (Skip::ArticleGone, true) => "通知的文章已撤回".to_owned(),
            (other, false) => other.to_string(),
        }
    }
}

/// `ms` as `2026-11-30 08:00` on the wall clock of `tz`.
fn local(ms: i64, tz: Tz) -> String {
    from_ms(ms)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn status_zh(s: SubscriberStatus) -> &'static str {
    match s {
        SubscriberStatus::Pending => "待确认",
        SubscriberStatus::Active => "有效",
        SubscriberStatus::Unsubscribed => "已退订",
        SubscriberStatus::Bounced => "退信停发",
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Erased => f.write_str("the subscriber was erased"),
            Skip::NotActive(s) => write!(f, "the subscriber is {}, not active", s.as_str()),
            Skip::NoSections => f.write_str("none of the sections they chose exists any more"),
            Skip::NothingNew { since } => write!(
                f,
                "nothing new in their sections since {} (UTC), and the schedule does not send \
                 empty digests",
                local(*since, chrono_tz::UTC)
            ),
            Skip::ArticleGone => f.write_str("the announced article was retracted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_new_names_the_instant_in_the_readers_zone_and_language() {
        // 2026-11-30T00:00Z is 08:00 in Shanghai.
        let since = 1_795_996_800_000;
        let why = Skip::NothingNew { since };
        let sh = chrono_tz::Asia::Shanghai;
        assert!(
            why.explain("en", sh)
                .starts_with("nothing new since 2026-11-30 08:00"),
            "{}",
            why.explain("en", sh)
        );
        assert!(
            why.explain("zh-CN", sh)
                .starts_with("自 2026-11-30 08:00 以来")
        );
        assert!(why.to_string().contains("2026-11-30 00:00 (UTC)"));
    }
}
