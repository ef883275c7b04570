//! What an SMTP failure means for a delivery: which step failed, how, and the resulting
//! [`SendError`].

use super::SendError;

/// Which step of the exchange failed; decides transient versus permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Mail,
    Rcpt,
    Data,
    Message,
}

pub(super) enum Failure {
    /// The server answered with a refusal: the connection is still in step.
    Reply { code: u16, text: String },
    /// The connection broke or a step timed out: the connection is unusable.
    Broken(String),
    /// The gate called the send off before the message was written.
    Called,
}

/// What a failure means for the delivery:
/// - a 421 anywhere (the service is closing), or a fresh session breaking at MAIL: the relay's
///   trouble, not the message's ([`SendError::RelayDown`], no attempt spent);
/// - silence or a broken connection once the message was written: it may have arrived
///   ([`SendError::Uncertain`], RFC 1047);
/// - a 5xx is permanent only when it concerns the recipient or this message (RCPT, DATA, end
///   of data). A 5xx to MAIL FROM says nothing about the recipient, so it is transient:
///   retries run out and the delivery fails, instead of every subscriber being marked bounced;
/// - other 4xx and a session breaking at RCPT or DATA are worth retrying.
pub(super) fn classify(stage: Stage, failure: Failure, reused: bool) -> SendError {
    match failure {
        Failure::Called => SendError::NotSent,
        Failure::Reply { code: 421, text } => SendError::RelayDown(format!("{stage:?}: {text}")),
        Failure::Broken(why) if stage == Stage::Message => {
            SendError::Uncertain(format!("{stage:?}: {why}"))
        }
        Failure::Broken(why) if stage == Stage::Mail && !reused => {
            SendError::RelayDown(format!("{stage:?}: {why}"))
        }
        Failure::Broken(why) => SendError::Transient(format!("{stage:?}: {why}")),
        Failure::Reply { code, text } if (500..600).contains(&code) && stage != Stage::Mail => {
            SendError::Permanent {
                code,
                message: text,
            }
        }
        Failure::Reply { text, .. } => SendError::Transient(format!("{stage:?}: {text}")),
    }
}

/// The code of a 4xx reply to RCPT, DATA or the final "." (a 421 included): the receiving side
/// asks for this message later. From a domain with a limit, the sign that it wants less mail
/// from us (`mail::throttle::DomainLimits::slowed`).
pub(super) fn deferral_code(stage: Stage, failure: &Failure) -> Option<u16> {
    match failure {
        Failure::Reply { code, .. } if (400..500).contains(code) && stage != Stage::Mail => {
            Some(*code)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16) -> Failure {
        Failure::Reply {
            code,
            text: format!("{code} x"),
        }
    }

    #[test]
    fn only_answers_about_the_message_spend_attempts() {
        let broken = || Failure::Broken("eof".into());
        assert!(matches!(
            classify(Stage::Rcpt, reply(421), false),
            SendError::RelayDown(_)
        ));
        assert!(matches!(
            classify(Stage::Mail, broken(), false),
            SendError::RelayDown(_)
        ));
        // A parked session closed by the server says nothing about the relay either way.
        assert!(matches!(
            classify(Stage::Mail, broken(), true),
            SendError::Transient(_)
        ));
        assert!(matches!(
            classify(Stage::Message, broken(), false),
            SendError::Uncertain(_)
        ));
        assert!(matches!(
            classify(Stage::Rcpt, reply(550), false),
            SendError::Permanent { code: 550, .. }
        ));
        assert!(matches!(
            classify(Stage::Message, reply(554), false),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            classify(Stage::Mail, reply(550), false),
            SendError::Transient(_)
        ));
        assert!(matches!(
            classify(Stage::Rcpt, reply(451), false),
            SendError::Transient(_)
        ));
        assert!(matches!(
            classify(Stage::Data, Failure::Called, false),
            SendError::NotSent
        ));
    }

    #[test]
    fn only_4xx_replies_about_the_recipient_or_message_are_deferrals() {
        assert_eq!(deferral_code(Stage::Rcpt, &reply(421)), Some(421));
        assert_eq!(deferral_code(Stage::Rcpt, &reply(450)), Some(450));
        assert_eq!(deferral_code(Stage::Message, &reply(451)), Some(451));
        // MAIL FROM is about us, a 5xx is final, a broken connection said nothing.
        assert_eq!(deferral_code(Stage::Mail, &reply(421)), None);
        assert_eq!(deferral_code(Stage::Rcpt, &reply(550)), None);
        assert_eq!(
            deferral_code(Stage::Data, &Failure::Broken("eof".into())),
            None
        );
    }
}
