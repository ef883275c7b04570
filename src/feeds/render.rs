//! Rendering many feeds at once: every format of every feed, spread over the CPUs on blocking
//! threads so that request handling never waits behind rendering.

use std::sync::Arc;

use anyhow::Context;

use super::{
    doc::FeedDoc,
    rendered::Rendered,
    site::{Format, Site, feed_path},
};

/// One feed document in `format`.
pub fn one(site: &Site, feed: &FeedDoc, format: Format) -> Vec<u8> {
    match format {
        Format::Rss => super::rss::render(site, feed),
        Format::Atom => super::atom::render(site, feed),
        Format::Json => super::json::render(site, feed),
    }
}

/// Every feed in every format, ready to serve, keyed by request path.
pub async fn all_formats(
    site: Arc<Site>,
    feeds: Vec<FeedDoc>,
) -> anyhow::Result<Vec<(String, Rendered)>> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(feeds.len())
        .max(1);
    let mut chunks: Vec<Vec<FeedDoc>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, feed) in feeds.into_iter().enumerate() {
        chunks[i % workers].push(feed);
    }
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let site = site.clone();
            tokio::task::spawn_blocking(move || {
                chunk
                    .iter()
                    .flat_map(|feed| ready(&site, feed))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.extend(h.await.context("feed rendering thread")?);
    }
    Ok(out)
}

/// Compresses `docs` on blocking threads, spread over the CPUs.
pub async fn compress_all(docs: Vec<Arc<Rendered>>) -> anyhow::Result<()> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(docs.len())
        .max(1);
    let mut chunks: Vec<Vec<Arc<Rendered>>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, doc) in docs.into_iter().enumerate() {
        chunks[i % workers].push(doc);
    }
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| tokio::task::spawn_blocking(move || chunk.iter().for_each(|d| d.compress())))
        .collect();
    for h in handles {
        h.await.context("feed compression thread")?;
    }
    Ok(())
}

fn ready(site: &Site, feed: &FeedDoc) -> [(String, Rendered); 3] {
    Format::ALL.map(|format| {
        let self_url = site.feed_url(&feed.slug, format);
        let link = site
            .hub
            .as_ref()
            .map(|hub| format!("<{hub}>; rel=\"hub\", <{self_url}>; rel=\"self\""));
        (
            feed_path(&feed.slug, format),
            Rendered::new(
                one(site, feed, format),
                format.content_type(),
                feed.updated.to_utc(),
                link,
            ),
        )
    })
}
