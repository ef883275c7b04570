//! Absolute links carried by mail, and the tokens behind them.

use super::token;
use crate::store::Store;

/// Links a digest (or any mail to a subscriber) carries in its footer and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberLinks {
    /// `GET /subscriptions/manage?token=…`: change sections and schedule.
    pub manage_url: String,
    /// `GET`/`POST /unsubscribe?token=…`: the page, and the RFC 8058 one-click target for
    /// `List-Unsubscribe`.
    pub unsubscribe_url: String,
}

/// `base_url` + `path` + `?token=…` (+ `&locale=…`).
pub fn absolute(base_url: &str, path: &str, token: &str, locale: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("token", token);
    if let Some(l) = locale {
        query.append_pair("locale", l);
    }
    format!(
        "{}{path}?{}",
        base_url.trim_end_matches('/'),
        query.finish()
    )
}

/// The link that confirms a subscription.
pub fn confirm_url(base_url: &str, token: &str, locale: &str) -> String {
    absolute(base_url, "/subscriptions/confirm", token, Some(locale))
}

/// The manage and unsubscribe links for one token.
pub fn subscriber_links(base_url: &str, token: &str, locale: &str) -> SubscriberLinks {
    SubscriberLinks {
        manage_url: absolute(base_url, "/subscriptions/manage", token, Some(locale)),
        unsubscribe_url: absolute(base_url, "/unsubscribe", token, None),
    }
}

/// Issues one never-expiring manage token per `(subscriber_id, generation, locale)` and
/// returns their links, in order. Only the tokens' hashes are stored, so links cannot be
/// rebuilt later: call this for each outgoing mail, before sending it.
pub async fn issue_subscriber_links(
    store: &Store,
    base_url: &str,
    subscribers: &[(i64, i64, &str)],
    now_ms: i64,
) -> anyhow::Result<Vec<SubscriberLinks>> {
    let mut rows = Vec::with_capacity(subscribers.len());
    let mut links = Vec::with_capacity(subscribers.len());
    for (id, generation, locale) in subscribers {
        let t = token::generate();
        links.push(subscriber_links(base_url, &t.text, locale));
        rows.push((*id, *generation, t.hash));
    }
    store.insert_manage_tokens(&rows, now_ms).await?;
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_absolute_on_the_base_url_with_an_encoded_token() {
        let l = subscriber_links("https://news.example.org/mail/", "ab-_c", "en");
        assert_eq!(
            l.manage_url,
            "https://news.example.org/mail/subscriptions/manage?token=ab-_c&locale=en"
        );
        assert_eq!(
            l.unsubscribe_url,
            "https://news.example.org/mail/unsubscribe?token=ab-_c"
        );
        assert_eq!(
            confirm_url("http://x.test", "t", "zh-CN"),
            "http://x.test/subscriptions/confirm?token=t&locale=zh-CN"
        );
    }
}
