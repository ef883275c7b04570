//! The authority and date of feeds' `tag:` ids (RFC 4151), fixed once per database.
//!
//! Readers know an item by its id: if the id changes, they show the article again. Ids used to
//! take the host of `site.base_url` at every render, so moving from a staging address to the
//! real domain changed them all. Now the first start stores the authority (`feeds.id_authority`,
//! else the host of `site.base_url`) with the date of that start (`2026-11-30`), every process
//! reads the stored pair, and nothing derives it again:
//! - a database that held articles before this existed (migration 0160 marks it) keeps
//!   `tag:<host of base_url>,2026:`, exactly the ids it served;
//! - `feeds.id_authority` set later replaces the stored authority only while no article has
//!   ever been stored (no reader can have seen an id yet), with that start's date; once
//!   articles exist it is ignored with a warning, since changing it would change every id.

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::{config::Config, store::Store};

/// The fixed part of every id: `tag:{authority},{date}:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagBase {
    /// A DNS name in lower-case ASCII (RFC 4151 `authorityName`).
    pub authority: String,
    /// `YYYY` or `YYYY-MM-DD`: a day on which the authority was the organisation's.
    pub date: String,
}

impl TagBase {
    /// `tag:{authority},{date}:{specific}`; `specific` must already be URI-safe.
    pub fn id(&self, specific: &str) -> String {
        format!("tag:{},{}:{specific}", self.authority, self.date)
    }
}

/// The ids of this database: the stored pair, fixed now when none is (see the module).
pub async fn fix(store: &Store, config: &Config, now: DateTime<Utc>) -> anyhow::Result<TagBase> {
    let host = host_authority(&config.site.base_url);
    let configured = config.feeds.id_authority.as_deref().map(normalise);
    let today = now.format("%Y-%m-%d").to_string();
    let now_ms = now.timestamp_millis();
    let stored = match store.feed_identity().await? {
        Some(stored) if stored.authority.is_some() => stored,
        _ => {
            let fresh = configured.as_deref().unwrap_or(&host);
            let stored = store
                .fix_feed_identity(fresh, &host, &today, now_ms)
                .await?;
            tracing::info!(
                authority = stored.authority.as_deref().unwrap_or(""),
                date = %stored.tag_date,
                legacy = stored.legacy,
                "feed ids fixed for this database"
            );
            stored
        }
    };
    let fixed = TagBase {
        authority: stored
            .authority
            .clone()
            .context("the stored feed identity has no authority")?,
        date: stored.tag_date.clone(),
    };
    if let Some(wanted) = configured.filter(|c| *c != fixed.authority) {
        if !stored.legacy
            && store
                .refix_unused_feed_identity(&wanted, &today, now_ms)
                .await?
        {
            tracing::info!(
                previous = %fixed.authority,
                authority = %wanted,
                date = %today,
                "feeds.id_authority applied: no article was stored yet, so no reader has seen an id"
            );
            return Ok(TagBase {
                authority: wanted,
                date: today,
            });
        }
        tracing::warn!(
            kept = %fixed.id(""),
            configured = %wanted,
            "feeds.id_authority ignored: this database has served ids under the kept authority \
             and changing it would make readers show every article again"
        );
    }
    Ok(fixed)
}

/// The `tag:` authority for `base_url`: its host name (IPv4 addresses as they are, since
/// RFC 4151 has no place for IPv6 ones).
fn host_authority(base_url: &str) -> String {
    match url::Url::parse(base_url)
        .ok()
        .as_ref()
        .and_then(url::Url::host)
    {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        _ => "localhost".to_owned(),
    }
}

/// A configured domain in the form ids carry: lower case, IDN labels in punycode.
fn normalise(domain: &str) -> String {
    let d = domain.trim().trim_end_matches('.');
    idna::domain_to_ascii(d).unwrap_or_else(|_| d.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_host_is_the_authority_as_ids_always_had_it() {
        assert_eq!(
            host_authority("https://News.Example.org./x"),
            "news.example.org"
        );
        assert_eq!(host_authority("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_authority("http://[::1]:8080"), "localhost");
        assert_eq!(
            host_authority("https://工会.中国/"),
            "xn--6oq837a.xn--fiqs8s"
        );
    }

    #[test]
    fn a_configured_authority_is_lower_case_ascii() {
        assert_eq!(normalise(" QHGH.Example.ORG. "), "qhgh.example.org");
        assert_eq!(normalise("工会.中国"), "xn--6oq837a.xn--fiqs8s");
    }

    #[test]
    fn ids_join_authority_date_and_the_specific_part() {
        let base = TagBase {
            authority: "example.org".into(),
            date: "2026-11-30".into(),
        };
        assert_eq!(
            base.id("article/a%2Fb"),
            "tag:example.org,2026-11-30:article/a%2Fb"
        );
    }
}
