//! Polite HTTP for sources: conditional GET, one request at a time per host, a bounded body,
//! a timeout, and a User-Agent that says who is asking.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, bail};
use reqwest::{StatusCode, header};
use url::Url;

use crate::store::Validators;

/// Largest page or feed read, in bytes; a bigger one is an error, not a memory spike.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Hosts remembered for per-host ordering before idle ones are forgotten.
const MAX_HOSTS: usize = 256;

/// The HTTP client of all sources; share one so that per-host ordering holds across sources.
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What a GET brought.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the validators still hold.
    NotModified,
    Page(Page),
}

/// A page answered 200.
#[derive(Debug)]
pub struct Page {
    /// Where it was finally found, after redirects: the base for relative links.
    pub url: Url,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub validators: Validators,
}

impl Fetcher {
    /// A client sending `user_agent`, giving up on a request after `timeout`.
    pub fn new(user_agent: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            header::HeaderValue::from_static(
                "text/html,application/xhtml+xml,application/xml;q=0.9,application/rss+xml;q=0.9,application/atom+xml;q=0.9,*/*;q=0.8",
            ),
        );
        headers.insert(
            header::ACCEPT_LANGUAGE,
            header::HeaderValue::from_static("zh-CN,zh;q=0.9,en;q=0.8"),
        );
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .context("build HTTP client")?;
        Ok(Self {
            client,
            timeout,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// GETs `url`, conditionally when `known` validators are given. Errors name the URL and
    /// say what went wrong (status, timeout, size).
    pub async fn get(&self, url: &Url, known: Option<&Validators>) -> anyhow::Result<Fetched> {
        let host = self.host_lock(url);
        // One request at a time per host: an old CMS is not made to serve a crawler in parallel.
        let _turn = host.lock().await;
        self.get_now(url, known)
            .await
            .with_context(|| format!("GET {url}"))
    }

    async fn get_now(&self, url: &Url, known: Option<&Validators>) -> anyhow::Result<Fetched> {
        let mut req = self.client.get(url.clone());
        if let Some(v) = known {
            if let Some(etag) = &v.etag {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
        }
        let mut resp = req.send().await.map_err(|e| self.describe(e))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            bail!("answered HTTP {status}");
        }
        let text_header = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = text_header(header::CONTENT_TYPE);
        let validators = Validators {
            etag: text_header(header::ETAG),
            last_modified: text_header(header::LAST_MODIFIED),
        };
        let final_url = resp.url().clone();
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            bail!("body is larger than {MAX_BODY} bytes");
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.describe(e))? {
            if body.len() + chunk.len() > MAX_BODY {
                bail!("body is larger than {MAX_BODY} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Page(Page {
            url: final_url,
            body,
            content_type,
            validators,
        }))
    }

    fn describe(&self, e: reqwest::Error) -> anyhow::Error {
        if e.is_timeout() {
            anyhow::anyhow!("timed out after {:?}", self.timeout)
        } else if e.is_connect() {
            anyhow::anyhow!("could not connect: {e}")
        } else {
            anyhow::Error::new(e)
        }
    }

    fn host_lock(&self, url: &Url) -> Arc<tokio::sync::Mutex<()>> {
        let key = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.hosts.lock().expect("host map lock");
        if hosts.len() >= MAX_HOSTS && !hosts.contains_key(&key) {
            // Forget hosts nobody is waiting on; the map stays bounded.
            hosts.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        hosts.entry(key).or_default().clone()
    }
}
