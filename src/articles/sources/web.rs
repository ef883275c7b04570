//! Web source: a site without feeds, read from its list page and article pages with CSS
//! selectors. An unchanged list page costs one 304; an article seen again is updated in place
//! through `source_items`, never duplicated.

use std::time::Duration;

use anyhow::{Context, anyhow};
use url::Url;

use super::{
    PollReport,
    charset::decode_html,
    dates::parse_date,
    extract,
    fetch::Fetched,
    health::{Polled, fetch_unless_unchanged},
    input_hash, item_article_id,
};
use crate::{
    AppState,
    articles::ArticleInput,
    clock::to_ms,
    config::{Config, SourceConfig, parse_interval},
    domain::{TimeZone, strip_invalid_chars},
    store::{PutResult, Validators},
};

use super::Fetcher;

/// Article links followed per poll; the newest are listed first on every CMS we know.
const MAX_ITEMS: usize = 100;
/// Known articles asked again each time the list changes (conditionally, when the site gives
/// validators): the newest ones, which are the ones sites correct. Older known ones are left
/// alone, so that a site without ETags is not crawled whole at every poll.
const RECHECK_KNOWN: usize = 20;

/// A `kind = "web"` source.
pub struct WebSource {
    pub section: String,
    pub list_url: Url,
    pub interval: Duration,
    /// Zone of dates that carry no offset.
    pub timezone: TimeZone,
    selectors: extract::Selectors,
}

impl WebSource {
    /// Builds the source from its validated config entry.
    pub fn from_config(config: &SourceConfig, site: &Config) -> anyhow::Result<Self> {
        let SourceConfig::Web {
            section,
            list_url,
            item_selector,
            title_selector,
            date_selector,
            content_selector,
            author_selector,
            interval,
            timezone,
            ..
        } = config
        else {
            return Err(anyhow!("not a web source"));
        };
        let selectors = extract::Selectors::parse(
            item_selector,
            title_selector,
            date_selector,
            content_selector,
            author_selector.as_deref(),
        )
        .map_err(|e| anyhow!(e))?;
        let timezone = match timezone {
            Some(tz) => TimeZone::parse(tz).map_err(|e| anyhow!("timezone: {e}"))?,
            None => site.site_timezone(),
        };
        Ok(Self {
            section: section.clone(),
            list_url: Url::parse(list_url).context("list_url")?,
            interval: parse_interval(interval)?,
            timezone,
            selectors,
        })
    }
}

/// One poll: the list page (conditionally), then each listed article page not known to be
/// unchanged.
pub(super) async fn poll(
    state: &AppState,
    fetcher: &Fetcher,
    name: &str,
    src: &WebSource,
) -> anyhow::Result<Polled> {
    let page = match fetch_unless_unchanged(state, fetcher, name, &src.list_url).await? {
        Ok(page) => page,
        Err(unchanged) => return Ok(unchanged),
    };
    let html = decode_html(&page.body, page.content_type.as_deref());
    let links = extract::list_links(&html, &page.url, &src.selectors.item, MAX_ITEMS);
    let mut report = PollReport {
        items_found: links.len(),
        ..PollReport::default()
    };
    if links.is_empty() {
        report.failed.push(format!(
            "item_selector {:?} matched no article links on {}; has the page layout changed?",
            src.selectors.text.item, page.url
        ));
    }
    for (position, link) in links.iter().enumerate() {
        if state.shutdown.is_cancelled() {
            break;
        }
        let recheck = position < RECHECK_KNOWN;
        if let Err(e) = item(state, fetcher, name, src, link, recheck, &mut report).await {
            report.failed.push(format!("{link}: {e:#}"));
        }
    }
    Ok(Polled {
        report,
        validators: Some(page.validators),
        carried: Vec::new(),
    })
}

/// Fetches one article page and stores what changed.
async fn item(
    state: &AppState,
    fetcher: &Fetcher,
    name: &str,
    src: &WebSource,
    link: &Url,
    recheck: bool,
    report: &mut PollReport,
) -> anyhow::Result<()> {
    let key = link.as_str();
    let previous = state.store.source_item(name, key).await?;
    if previous.is_some() && !recheck {
        report.unchanged += 1;
        return Ok(());
    }
    let known = previous.as_ref().map(|p| Validators {
        etag: p.etag.clone(),
        last_modified: p.last_modified.clone(),
    });
    let page = match fetcher.get(link, known.as_ref()).await? {
        Fetched::NotModified => {
            report.unchanged += 1;
            return Ok(());
        }
        Fetched::Page(p) => p,
    };
    let html = decode_html(&page.body, page.content_type.as_deref());
    let fields = extract::article(&html, &page.url, &src.selectors).map_err(|e| anyhow!(e))?;
    let published = parse_date(&fields.date_text, src.timezone.0).ok_or_else(|| {
        anyhow!(
            "date_selector {:?} gave {:?}, which holds no date",
            src.selectors.text.date,
            fields.date_text
        )
    })?;
    let input = ArticleInput {
        section: Some(src.section.clone()),
        title: Some(strip_invalid_chars(&fields.title)),
        url: Some(page.url.to_string()),
        content_html: Some(strip_invalid_chars(&fields.content_html)),
        author: fields.author.as_deref().map(strip_invalid_chars),
        published_at: Some(published.to_rfc3339()),
        ..ArticleInput::default()
    };
    let hash = input_hash(&input);
    let article_id = previous
        .as_ref()
        .map(|p| p.article_id.clone())
        .unwrap_or_else(|| item_article_id(name, key));
    let now = to_ms(state.clock.now());
    if previous.as_ref().is_some_and(|p| p.content_hash == hash) {
        report.unchanged += 1;
    } else {
        let outcome = state.ingest.put(&article_id, input, name).await?;
        match outcome.result {
            PutResult::Created => report.created += 1,
            PutResult::Updated => report.updated += 1,
            PutResult::Unchanged => report.unchanged += 1,
        }
    }
    state
        .store
        .put_source_item(name, key, &article_id, &hash, &page.validators, now)
        .await
}
