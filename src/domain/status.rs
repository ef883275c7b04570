//! Every status and kind the database stores as text, as an enum whose spelling is written
//! once. Reading an unknown spelling fails loudly ([`UnknownValue`]): a corrupt row or one
//! written by a newer version is an error, never silently some default.

use serde::{Serialize, Serializer};

/// A stored spelling that is not one of the enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// Defines a text-stored enum: `as_str`, `parse` (loud), `NAMES`, `Display`, `Serialize`
/// and `TryFrom<String>` (for `#[sqlx(try_from = "String")]`).
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every spelling, in declaration order.
            pub const NAMES: &[&str] = &[$($text),+];

            /// The stored (and API) spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }

            /// Reads a stored spelling; anything else is an [`UnknownValue`].
            pub fn parse(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err(UnknownValue { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(s: String) -> Result<Self, UnknownValue> {
                Self::parse(&s)
            }
        }
    };
}

text_enum! {
    /// Where a subscriber stands (SPEC §5).
    pub enum SubscriberStatus ("subscriber status") {
        Pending = "pending",
        Active = "active",
        Unsubscribed = "unsubscribed",
        Bounced = "bounced",
    }
}

text_enum! {
    /// What a subscriber token is for: confirming an address, or managing/unsubscribing.
    pub enum TokenKind ("token kind") {
        Confirm = "confirm",
        Manage = "manage",
    }
}

text_enum! {
    /// Where a digest run stands (SPEC §7).
    pub enum RunStatus ("run status") {
        /// Deliveries are left to do.
        Running = "running",
        /// Every delivery is sent, skipped or bounced.
        Done = "done",
        /// Finished, and a delivery failed or stayed uncertain.
        DoneWithFailures = "done_with_failures",
        /// The fire instant passed while no process ran, beyond the catch-up window.
        Missed = "missed",
    }
}

impl RunStatus {
    /// No delivery of the run is left to do.
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Running)
    }
}

text_enum! {
    /// A delivery's stored state.
    pub enum DeliveryStatus ("delivery status") {
        /// To do (maybe waiting for a retry).
        Pending = "pending",
        Sent = "sent",
        /// Nothing new for the subscriber, or they left before the send.
        Skipped = "skipped",
        /// Attempts used up.
        Failed = "failed",
        /// Refused for good by the receiving server.
        Bounced = "bounced",
        /// No answer after the final "." and not retried again.
        Uncertain = "uncertain",
    }
}

text_enum! {
    /// The run figure a delivery counts in, as the admin API shows (and filters) it: the
    /// stored status, with pending split into not tried yet, deferred and uncertain.
    pub enum RunFigure ("run figure") {
        /// Not tried yet.
        Pending = "pending",
        /// Waiting for a retry or for the relay.
        Deferred = "deferred",
        Sent = "sent",
        Skipped = "skipped",
        Failed = "failed",
        Bounced = "bounced",
        /// No answer after the final "." (waiting for its one retry, or final).
        Uncertain = "uncertain",
    }
}

text_enum! {
    /// What kind of source articles come from (SPEC §3).
    pub enum SourceType ("source kind") {
        /// A watched content folder.
        Directory = "directory",
        /// The site's own pages, for sites without a feed.
        Web = "web",
        /// An existing RSS or Atom feed.
        Feed = "feed",
    }
}

text_enum! {
    /// What a console account or a named API token may do (SPEC §9).
    pub enum Role ("role") {
        /// Everything.
        Admin = "admin",
        /// Articles and sections, previews and test sends (the publisher's rights in the API).
        Editor = "editor",
    }
}

text_enum! {
    /// How a console login attempt ended.
    pub enum LoginOutcome ("login outcome") {
        Success = "success",
        /// Unknown address or wrong password: the same to the person trying.
        Failed = "failed",
        /// Refused unchecked: too many failures for that address or from that client.
        Throttled = "throttled",
    }
}

text_enum! {
    /// What an audit log entry records.
    pub enum AuditKind ("audit kind") {
        AccountAdd = "account.add",
        AccountReset = "account.reset",
        PasswordSet = "password.set",
        Login = "login",
        Logout = "logout",
        LogoutEverywhere = "logout.everywhere",
        TokenCreate = "token.create",
        TokenRevoke = "token.revoke",
        SubscriberAdd = "subscriber.add",
        SubscriberImport = "subscriber.import",
        SubscriberErase = "subscriber.erase",
        SubscriberResend = "subscriber.resend",
        ScheduleCreate = "schedule.create",
        ScheduleUpdate = "schedule.update",
        ScheduleDelete = "schedule.delete",
        ScheduleRunNow = "schedule.run_now",
        ScheduleTestSend = "schedule.test_send",
        RunRetry = "run.retry",
        AccountRole = "account.role",
        AccountRemove = "account.remove",
        SettingsChange = "settings.change",
        SourceCheck = "source.check",
        ArticleCreate = "article.create",
        ArticleEdit = "article.edit",
        ArticleRetract = "article.retract",
        ArticleRestore = "article.restore",
        SectionCreate = "section.create",
        SectionEdit = "section.edit",
        SectionDelete = "section.delete",
        SectionMove = "section.move",
        ArticleAnnounce = "article.announce",
    }
}

text_enum! {
    /// How a schedule decides when to mail (SPEC §6).
    pub enum ScheduleKind ("schedule kind") {
        /// At each instant of its cron.
        Digest = "digest",
        /// Within its window of a publication in its subscribers' sections.
        Instant = "instant",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back_as_itself() {
        for name in SubscriberStatus::NAMES {
            assert_eq!(SubscriberStatus::parse(name).unwrap().as_str(), *name);
        }
        for name in RunFigure::NAMES {
            assert_eq!(RunFigure::parse(name).unwrap().to_string(), *name);
        }
        assert_eq!(
            serde_json::to_string(&RunStatus::DoneWithFailures).unwrap(),
            "\"done_with_failures\""
        );
    }

    #[test]
    fn an_unknown_spelling_is_an_error_not_a_default() {
        let err = SubscriberStatus::parse("Active").unwrap_err();
        assert_eq!(err.kind, "subscriber status");
        assert_eq!(err.to_string(), "unknown subscriber status \"Active\"");
        assert!(DeliveryStatus::try_from(String::new()).is_err());
        assert!(TokenKind::parse("unsubscribe").is_err());
    }
}
