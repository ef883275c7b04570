//! Feed source: an existing RSS or Atom feed mapped into one section. Conditional GET; each
//! entry keeps one article id for life, keyed by the entry's own id (or its link).

use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use url::Url;

use super::{
    Fetcher, PollReport,
    health::{Polled, fetch_unless_unchanged},
    input_hash, item_article_id,
};
use crate::{
    AppState,
    articles::{ArticleInput, excerpt, html_to_text},
    clock::to_ms,
    config::{SourceConfig, parse_interval},
    domain::strip_invalid_chars,
    store::{PutResult, Validators},
};

/// Entries read per poll; feeds list their newest first.
const MAX_ENTRIES: usize = 200;

/// A `kind = "feed"` source.
pub struct FeedSource {
    pub section: String,
    pub url: Url,
    pub interval: Duration,
}

impl FeedSource {
    /// Builds the source from its validated config entry.
    pub fn from_config(config: &SourceConfig) -> anyhow::Result<Self> {
        let SourceConfig::Feed {
            section,
            url,
            interval,
            ..
        } = config
        else {
            return Err(anyhow!("not a feed source"));
        };
        Ok(Self {
            section: section.clone(),
            url: Url::parse(url).context("url")?,
            interval: parse_interval(interval)?,
        })
    }
}

/// One poll of the feed.
pub(super) async fn poll(
    state: &AppState,
    fetcher: &Fetcher,
    name: &str,
    src: &FeedSource,
) -> anyhow::Result<Polled> {
    let page = match fetch_unless_unchanged(state, fetcher, name, &src.url).await? {
        Ok(page) => page,
        Err(unchanged) => return Ok(unchanged),
    };
    // feed-rs reads the XML declaration's encoding itself, so it gets the raw bytes. An entry
    // without an id is keyed by its link alone: a title edit must not make it a new article.
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(page.url.as_str()))
        .id_generator(|links, _, _| links.first().map(|l| l.href.clone()).unwrap_or_default())
        .build();
    let feed = parser
        .parse(page.body.as_slice())
        .map_err(|e| anyhow!("{} is not an RSS or Atom feed: {e}", page.url))?;
    let mut report = PollReport {
        items_found: feed.entries.len(),
        ..PollReport::default()
    };
    if feed.entries.is_empty() {
        report
            .failed
            .push(format!("the feed at {} holds no entries", page.url));
    }
    for entry in feed.entries.iter().take(MAX_ENTRIES) {
        let key = entry.id.trim();
        if key.is_empty() {
            report
                .failed
                .push("an entry has neither an id nor a link".into());
            continue;
        }
        if let Err(e) = store_entry(state, name, src, &page.url, key, entry, &mut report).await {
            report.failed.push(format!("entry {key}: {e:#}"));
        }
    }
    Ok(Polled {
        report,
        validators: Some(page.validators),
        carried: Vec::new(),
    })
}

fn text_of(t: &feed_rs::model::Text) -> String {
    if t.content_type.to_string().starts_with("text/html") {
        html_to_text(&t.content)
    } else {
        t.content.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

async fn store_entry(
    state: &AppState,
    name: &str,
    src: &FeedSource,
    feed_url: &Url,
    key: &str,
    entry: &feed_rs::model::Entry,
    report: &mut PollReport,
) -> anyhow::Result<()> {
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or(entry.links.first())
        .ok_or_else(|| anyhow!("no link"))?;
    let url = feed_url
        .join(link.href.trim())
        .with_context(|| format!("link {:?}", link.href))?;
    let content = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()))
        .unwrap_or_default();
    // A summary that is only the content again (RSS description) is left for ingest to derive.
    let summary = entry
        .content
        .as_ref()
        .and(entry.summary.as_ref())
        .map(text_of)
        .filter(|s| !s.is_empty() && s.chars().count() <= 500);
    let title = entry
        .title
        .as_ref()
        .map(text_of)
        .filter(|t| !t.is_empty())
        // RSS allows an item without a title; its text stands in.
        .unwrap_or_else(|| excerpt(&html_to_text(&content), 40));
    let previous = state.store.source_item(name, key).await?;
    let article_id = previous
        .as_ref()
        .map(|p| p.article_id.clone())
        .unwrap_or_else(|| item_article_id(name, key));
    let published = match entry.published.or(entry.updated) {
        Some(t) => t,
        // Undated: keep the instant it was first seen, so that re-polls change nothing.
        None => match state.store.get_article(&article_id).await? {
            Some(a) => a.published_at,
            None => state.clock.now(),
        },
    };
    let updated: Option<DateTime<Utc>> = entry.updated.filter(|u| *u > published);
    let input = ArticleInput {
        section: Some(src.section.clone()),
        title: Some(strip_invalid_chars(&title)),
        url: Some(url.to_string()),
        content_html: Some(strip_invalid_chars(&content)),
        summary: summary.as_deref().map(strip_invalid_chars),
        author: entry
            .authors
            .first()
            .and_then(|p| p.name.as_deref())
            .map(strip_invalid_chars),
        tags: Some(
            entry
                .categories
                .iter()
                .map(|c| strip_invalid_chars(c.label.as_deref().unwrap_or(&c.term)))
                .collect(),
        ),
        published_at: Some(published.to_rfc3339()),
        updated_at: updated.map(|u| u.to_rfc3339()),
        ..ArticleInput::default()
    };
    let hash = input_hash(&input);
    if previous.as_ref().is_some_and(|p| p.content_hash == hash) {
        report.unchanged += 1;
        return Ok(());
    }
    let outcome = state.ingest.put(&article_id, input, name).await?;
    match outcome.result {
        PutResult::Created => report.created += 1,
        PutResult::Updated => report.updated += 1,
        PutResult::Unchanged => report.unchanged += 1,
    }
    let now = to_ms(state.clock.now());
    state
        .store
        .put_source_item(name, key, &article_id, &hash, &Validators::default(), now)
        .await
}
