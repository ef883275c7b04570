//! WebSub publishing: after a feed changes, tell the hub (`hub.mode=publish`), retrying with
//! exponential backoff on the injected clock until the hub accepts or attempts run out.

use std::{collections::HashMap, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;

/// Changed-feed batches waiting for the pinger; a full queue means the pinger is far behind.
const QUEUE: usize = 64;
/// Attempts per topic before giving up (the next change pings again anyway).
pub const MAX_ATTEMPTS: u32 = 8;
/// First retry delay; doubled after each failure, capped at [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::seconds(1);
const MAX_BACKOFF: Duration = Duration::minutes(10);
const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// Hands changed feed URLs to the pinger task.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Vec<String>>,
}

impl Publisher {
    /// Queues pings for `topics`; never waits.
    pub fn publish(&self, topics: Vec<String>) {
        if topics.is_empty() {
            return;
        }
        if self.tx.try_send(topics).is_err() {
            tracing::warn!("WebSub queue full; these feed changes are not announced to the hub");
        }
    }
}

struct Pending {
    attempts: u32,
    due: DateTime<Utc>,
}

/// Starts the pinger for `hub`; returns the handle that queues topics.
pub fn spawn(
    hub: String,
    clock: Clock,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Publisher {
    let (tx, rx) = mpsc::channel(QUEUE);
    tasks.spawn(run(hub, clock, shutdown, rx));
    Publisher { tx }
}

async fn run(
    hub: String,
    clock: Clock,
    shutdown: CancellationToken,
    mut rx: mpsc::Receiver<Vec<String>>,
) {
    let client = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("tidings/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the WebSub HTTP client; pings disabled");
            return;
        }
    };
    // At most one entry per feed URL: bounded by the number of feeds.
    let mut pending: HashMap<String, Pending> = HashMap::new();
    loop {
        let next_due = pending.values().map(|p| p.due).min();
        let wait = async {
            match next_due {
                Some(t) => clock.sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            batch = rx.recv() => match batch {
                Some(topics) => {
                    let now = clock.now();
                    for topic in topics {
                        // A topic already waiting for a retry keeps its backoff.
                        pending.entry(topic).or_insert(Pending { attempts: 0, due: now });
                    }
                }
                None => return,
            },
            _ = wait => {}
        }
        let now = clock.now();
        let due: Vec<String> = pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(t, _)| t.clone())
            .collect();
        let mut sends = JoinSet::new();
        for topic in due {
            let request = client
                .post(&hub)
                .form(&[("hub.mode", "publish"), ("hub.url", topic.as_str())]);
            sends.spawn(async move { (topic, ping(request).await) });
        }
        while let Some(Ok((topic, result))) = sends.join_next().await {
            match result {
                Ok(()) => {
                    tracing::debug!(%topic, "hub notified");
                    pending.remove(&topic);
                }
                Err(e) => {
                    let Some(p) = pending.get_mut(&topic) else {
                        continue;
                    };
                    p.attempts += 1;
                    if p.attempts >= MAX_ATTEMPTS {
                        tracing::error!(%topic, error = %e, "hub ping failed; giving up");
                        pending.remove(&topic);
                    } else {
                        let backoff = (FIRST_BACKOFF * 2i32.pow(p.attempts - 1)).min(MAX_BACKOFF);
                        tracing::warn!(%topic, error = %e, attempt = p.attempts, retry_in_s = backoff.num_seconds(), "hub ping failed; will retry");
                        p.due = clock.now() + backoff;
                    }
                }
            }
        }
    }
}

async fn ping(request: reqwest::RequestBuilder) -> anyhow::Result<()> {
    let resp = request.send().await?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        anyhow::bail!("hub answered {status}")
    }
}
