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

/// The manage token of `(subscriber_id, generation)` derived with `secret` (HMAC-SHA256):
/// digests can put the same link in every mail without storing a token per mail, and a
/// re-subscription (a new generation) gives a new token while the old one stops working.
pub fn derived_manage_token(secret: &[u8], subscriber_id: i64, generation: i64) -> token::NewToken {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("manage\u{0}{subscriber_id}\u{0}{generation}").as_bytes());
    let text = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let hash = token::hash(&text);
    token::NewToken { text, hash }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_tokens_are_stable_well_formed_and_change_with_the_generation() {
        let a = derived_manage_token(b"k", 7, 1);
        assert_eq!(a.text, derived_manage_token(b"k", 7, 1).text);
        assert!(token::well_formed(&a.text));
        assert_ne!(a.text, derived_manage_token(b"k", 7, 2).text);
        assert_ne!(a.text, derived_manage_token(b"k", 8, 1).text);
        assert_ne!(a.text, derived_manage_token(b"other", 7, 1).text);
    }

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
