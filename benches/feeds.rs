//! Feed benchmarks driven by `benches/feeds.sh` (run with `cargo bench --bench feeds -- MODE`):
//!
//! - `seed BASE TOKEN N`: PUTs N articles of about 1.2 KB into `news` (a ~60 KB RSS feed);
//! - `freshness BASE TOKEN N`: N updates, each timed from sending the PUT to the first GET of
//!   `/feeds/news.rss` that shows it; prints p50/p99/max;
//! - `scale ARTICLES SECTIONS`: a SQLite database of that size, the cold build of every feed
//!   and the rebuild after one article changes.

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;
use tidings::{
    articles::ArticleInput,
    clock::Clock,
    config::Config,
    events::Events,
    feeds::{FeedCache, Scope},
    metrics::Metrics,
    store::Store,
};

const PARAGRAPH: &str = "全省各级工会组织深入学习贯彻会议精神，围绕职工群众急难愁盼问题，扎实开展困难职工帮扶、职工技能提升和劳动竞赛等工作，";

fn article(section: &str, i: usize, title: &str) -> serde_json::Value {
    json!({
        "section": section,
        "title": title,
        "url": format!("https://www.example.org/{section}/{i}.html"),
        "author": "记者 张鹏",
        "tags": ["工会", "职工"],
        "content_html": format!("<p>{}</p><p>{}</p>", PARAGRAPH.repeat(2), PARAGRAPH),
        "published_at": format!("2025-{:02}-{:02}T{:02}:{:02}:00+08:00", 1 + i / 600 % 12, 1 + i / 24 % 28, i % 24, i % 60),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn seed(base: &str, token: &str, n: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for i in 0..n {
        let resp = client
            .put(format!("{base}/api/v1/articles/bench-{i}"))
            .bearer_auth(token)
            .json(&article("news", i, &format!("第{i}篇：全省工会工作动态")))
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "seed {i}: {}", resp.status());
    }
    Ok(())
}

async fn freshness(base: &str, token: &str, n: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_gzip().no_brotli().build()?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let marker = format!("更新标记{i:05}");
        let started = Instant::now();
        let resp = client
            .put(format!("{base}/api/v1/articles/bench-fresh"))
            .bearer_auth(token)
            .json(&article("news", 10_000, &marker))
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "update {i}: {}", resp.status());
        loop {
            let body = client
                .get(format!("{base}/feeds/news.rss"))
                .send()
                .await?
                .text()
                .await?;
            if body.contains(&marker) {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "update {i} never showed"
            );
        }
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "freshness over {n} updates: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 < 50 ms)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap())
    );
    Ok(())
}

async fn scale(articles: usize, sections: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("scale.db").display());
    let mut toml = format!("[database]\nurl = \"{url}\"\n[server]\nbind = \"127.0.0.1:0\"\n");
    for s in 0..sections {
        toml.push_str(&format!(
            "[[sections]]\nslug = \"s{s}\"\ntitle = \"栏目{s}\"\n"
        ));
    }
    let config = Config::from_toml_str(&toml)?;
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    store.ensure_sections(&config.section_seeds(), 0).await?;
    let clock = Clock::System;
    let loaded = Instant::now();
    let pool = sqlx::SqlitePool::connect(&url).await?;
    let mut tx = pool.begin().await?;
    let known: BTreeSet<String> = (0..sections).map(|s| format!("s{s}")).collect();
    for i in 0..articles {
        let section = format!("s{}", i % sections);
        let input: ArticleInput =
            serde_json::from_value(article(&section, i, &format!("第{i}篇")))?;
        let a = input
            .into_new_article(&format!("a{i}"), "bench", |s| known.contains(s))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        sqlx::query(
            "INSERT INTO articles (id, section, title, url, content_html, summary, author, tags,
                published_at, visible_at, content_hash, source, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, '[\"工会\"]', $8, $8, $9, 'bench', $8, $8)",
        )
        .bind(&a.id)
        .bind(&a.section)
        .bind(&a.title)
        .bind(&a.url)
        .bind(&a.content_html)
        .bind(&a.summary)
        .bind(&a.author)
        .bind(a.published_at.timestamp_millis())
        .bind(a.content_hash())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    pool.close().await;
    println!(
        "scale: {articles} articles over {sections} sections loaded in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );

    let events = Events::new();
    let metrics = Arc::new(Metrics::default());
    let cold = Instant::now();
    // The front door is rendered from the same rebuild, with the page templates and branding.
    let pages = (
        Arc::new(tidings::mail::Templates::load(&config.site.templates_dir)?),
        tidings::branding::Branding::load(&store, &config).await?,
    );
    let cache = FeedCache::build(
        &config,
        store.clone(),
        clock.clone(),
        &events,
        metrics,
        pages,
    )
    .await?;
    let cold = cold.elapsed();
    println!(
        "scale: cold build of every cache ({} documents) {:.0} ms (goal < 2000 ms)",
        cache.len(),
        cold.as_secs_f64() * 1e3
    );

    let mut times = Vec::new();
    for round in 0..20 {
        let i = round * 7;
        let section = format!("s{}", i % sections);
        let input: ArticleInput =
            serde_json::from_value(article(&section, i, &format!("第{i}篇（修订{round}）")))?;
        let a = input
            .into_new_article(&format!("a{i}"), "bench", |s| known.contains(s))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let outcome = store
            .put_article(&a, clock.now())
            .await
            .context("change one article")?;
        let started = Instant::now();
        cache
            .rebuild(&Scope::Sections(
                outcome.changed_sections.into_iter().collect(),
            ))
            .await?;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "scale: one article changed -> its feeds rebuilt: median {:.1} ms, max {:.1} ms over {} changes (goal < 20 ms)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
        times.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` appends `--bench`; ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "seed" => seed(&arg(1), &arg(2), arg(3).parse()?).await,
        "freshness" => freshness(&arg(1), &arg(2), arg(3).parse()?).await,
        "scale" => scale(arg(1).parse()?, arg(2).parse()?).await,
        other => anyhow::bail!("unknown mode {other:?}: seed | freshness | scale"),
    }
}
