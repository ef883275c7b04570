//! Bounces that are not RFC 3464 reports: QQ Mail, 163/NetEase, Exchange and others answer in
//! their own words. A small table of the phrasings they use, checked in order, says whether
//! the address is dead (hard) or the mailbox only unavailable for now (soft); failing that,
//! an SMTP reply quoted in the text (`550 5.1.1 …`) decides.

use super::parse::status_code;

/// A bounce read from its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// An enhanced status code: the one quoted, or the one the phrase stands for.
    pub status: String,
    /// The phrase that matched, or the quoted reply.
    pub why: String,
}

/// `(phrase, status it stands for)`, matched case-insensitively; soft ones first, since a
/// "mailbox full" bounce often also says "could not be delivered".
const PHRASES: &[(&str, &str)] = &[
    // Soft: the mailbox exists but cannot take mail now.
    ("邮箱空间不足", "4.2.2"),
    ("邮箱容量已满", "4.2.2"),
    ("空间已满", "4.2.2"),
    ("mailbox is full", "4.2.2"),
    ("mailbox full", "4.2.2"),
    ("quotaexceeded", "4.2.2"),
    ("over quota", "4.2.2"),
    ("exceeded storage allocation", "4.2.2"),
    ("发信频率", "4.7.0"),
    ("frequency limited", "4.7.0"),
    ("too many mails", "4.7.0"),
    // Hard: no such mailbox.
    ("收件人不存在", "5.1.1"),
    ("邮箱地址不存在", "5.1.1"),
    ("用户不存在", "5.1.1"),
    ("帐号不存在", "5.1.1"),
    ("账号不存在", "5.1.1"),
    ("mailbox not found", "5.1.1"),
    ("user not found", "5.1.1"),
    ("user unknown", "5.1.1"),
    ("no such user", "5.1.1"),
    ("recipnotfound", "5.1.1"),
    ("does not exist", "5.1.1"),
    ("address rejected", "5.1.1"),
    ("mailbox unavailable", "5.1.1"),
    ("账号已被冻结", "5.2.1"),
    ("已被冻结", "5.2.1"),
    ("account disabled", "5.2.1"),
    ("account has been disabled", "5.2.1"),
];

/// Whether `from` and `subject` look like a mail system's bounce (not a person writing).
pub fn looks_like_bounce(from: Option<&str>, subject: &str) -> bool {
    let from = from.unwrap_or_default();
    let daemon = ["mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"]
        .iter()
        .any(|d| from.starts_with(d));
    let s = subject.to_lowercase();
    daemon
        || [
            "undeliverable",
            "undelivered",
            "delivery status notification",
            "delivery failure",
            "mail delivery failed",
            "returned mail",
            "failure notice",
            "退信",
            "邮件被退回",
            "投递失败",
            "无法投递",
        ]
        .iter()
        .any(|p| s.contains(p))
}

/// Reads a bounce in a provider's own words; `None` when nothing says what happened.
pub fn classify(subject: &str, text: &str) -> Option<Verdict> {
    let lower = format!("{subject}\n{text}").to_lowercase();
    if let Some((phrase, status)) = PHRASES.iter().find(|(p, _)| lower.contains(p)) {
        // A quoted reply of the same class is more precise than the phrase's code.
        let quoted = quoted_reply(&lower)
            .filter(|q| q.status[..1] == status[..1] && !q.status.ends_with(".0.0"));
        return Some(quoted.unwrap_or(Verdict {
            status: (*status).into(),
            why: (*phrase).into(),
        }));
    }
    quoted_reply(&lower)
}

/// The first `4xx`/`5xx` SMTP reply in `text` with an enhanced status code after it, or a
/// bare `5xx`/`4xx` reply followed by words.
fn quoted_reply(text: &str) -> Option<Verdict> {
    for line in text.lines().take(500) {
        let bytes = line.as_bytes();
        for (i, w) in bytes.windows(4).enumerate() {
            let code_ok = matches!(w[0], b'4' | b'5')
                && w[1].is_ascii_digit()
                && w[2].is_ascii_digit()
                && matches!(w[3], b' ' | b'-')
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
            if !code_ok {
                continue;
            }
            let rest = &line[i + 4..];
            let status = status_code(rest.split_whitespace().next().unwrap_or_default())
                .unwrap_or_else(|| format!("{}.0.0", w[0] as char));
            return Some(Verdict {
                status,
                why: crate::mail::one_line(&line[i..])
                    .chars()
                    .take(300)
                    .collect(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How QQ Mail returns mail to a mailbox that does not exist (sample written after
    /// the notices QQ's postmaster sends; the layout of its text part).
    const QQ: &str = "很抱歉您发送的邮件被退回，以下是该邮件的相关信息：\n\
        被退回的邮件：工会要闻 每日摘要\n\
        收件人：nobody.here@qq.com\n\
        退信原因：收件人邮箱地址不存在或已被冻结。\n\
        详细原因：550 Mailbox not found or access denied\n";

    /// 163 Mail (NetEase) returning to a full mailbox.
    const NETEASE_FULL: &str = "抱歉，您的邮件被退回来了……\n\
        原邮件信息：\n时　间：2026-11-30 08:00:04\n收件人：zhang.wei@163.com\n\
        退信原因：收件人邮箱空间不足，无法接收邮件。\n\
        建议解决方案：请联系收件人清理邮箱后重新发送。\n\
        552 Requested mail action aborted: exceeded storage allocation\n";

    /// 163 Mail returning to an address that does not exist.
    const NETEASE_UNKNOWN: &str = "抱歉，您的邮件被退回来了……\n\
        退信原因：收件人不存在\n550 User not found: li.na@163.com\n";

    /// Exchange / Outlook "Undeliverable" notice.
    const EXCHANGE: &str = "Delivery has failed to these recipients or groups:\n\n\
        wang.fang@union.example.cn\n\
        The email address you entered couldn't be found. Please check the recipient's email \
        address and try to resend the message.\n\n\
        Diagnostic information for administrators:\n\
        Generating server: MAIL01.union.example.cn\n\
        wang.fang@union.example.cn\n\
        Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\n";

    /// Exchange returning to a mailbox over its quota.
    const EXCHANGE_QUOTA: &str = "Delivery has failed to these recipients or groups:\n\
        Remote Server returned '554 5.2.2 mailbox full; \
        STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded'\n";

    /// A relay's plain-text failure notice with an SMTP reply quoted.
    const QMAIL: &str = "Hi. This is the qmail-send program at mx.example.net.\n\
        I'm afraid I wasn't able to deliver your message to the following addresses.\n\
        <gone@example.net>:\n203.0.113.5 does not like recipient.\n\
        Remote host said: 550-5.1.1 The email account that you tried to reach is disabled\n";

    #[test]
    fn qq_mail_no_such_mailbox_is_hard() {
        let v = classify("退信通知", QQ).unwrap();
        assert_eq!(v.status, "5.1.1", "{v:?}");
        assert!(looks_like_bounce(Some("postmaster@qq.com"), "退信"));
    }

    #[test]
    fn netease_full_mailbox_is_soft_and_unknown_user_is_hard() {
        let v = classify("系统退信", NETEASE_FULL).unwrap();
        assert_eq!(v.status, "4.2.2", "{v:?}");
        let v = classify("系统退信", NETEASE_UNKNOWN).unwrap();
        assert_eq!(v.status, "5.1.1", "{v:?}");
    }

    #[test]
    fn exchange_recipient_not_found_is_hard_with_its_code() {
        let v = classify("Undeliverable: 工会要闻", EXCHANGE).unwrap();
        assert_eq!(v.status, "5.1.1");
        let v = classify("Undeliverable: 工会要闻", EXCHANGE_QUOTA).unwrap();
        assert_eq!(
            v.status, "4.2.2",
            "quota is soft whatever the 5xx says: {v:?}"
        );
    }

    #[test]
    fn a_quoted_smtp_reply_decides_when_no_phrase_does() {
        let v = classify("failure notice", QMAIL).unwrap();
        assert_eq!(v.status, "5.1.1");
        assert!(v.why.starts_with("550-5.1.1"), "{v:?}");
    }

    #[test]
    fn a_persons_mail_says_nothing() {
        assert_eq!(classify("Re: 工会要闻", "谢谢，收到了。下周见。"), None);
        assert!(!looks_like_bounce(
            Some("li.na@example.net"),
            "Re: 工会要闻"
        ));
    }
}
