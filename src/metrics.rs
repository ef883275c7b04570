//! Prometheus counters kept in atomics and rendered as text on `GET /metrics`.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

/// Counters named in SPEC §8.
#[derive(Default)]
pub struct Metrics {
    /// Requests by status class 1xx..5xx.
    pub http_requests: [AtomicU64; 5],
    /// HTTP connections open now (at most `server::MAX_CONNECTIONS`).
    pub http_connections_open: AtomicU64,
    pub feed_renders: AtomicU64,
    pub articles_created: AtomicU64,
    pub articles_updated: AtomicU64,
    pub articles_unchanged: AtomicU64,
    pub articles_retracted: AtomicU64,
    pub source_errors: AtomicU64,
    pub deliveries_sent: AtomicU64,
    pub deliveries_failed: AtomicU64,
    pub deliveries_bounced: AtomicU64,
    pub deliveries_skipped: AtomicU64,
    /// No answer after the final ".".
    pub deliveries_uncertain: AtomicU64,
    /// Transient failures that will be retried.
    pub deliveries_deferred: AtomicU64,
    pub delivery_queue_depth: AtomicU64,
    pub smtp_latency_micros_sum: AtomicU64,
    pub smtp_latency_count: AtomicU64,
    /// Messages the inbound processor took, by kind ([`INBOUND_KINDS`] order).
    pub inbound: [AtomicU64; INBOUND_KINDS.len()],
    /// Sends held back by `[[mail.domain_limits]]` (nothing written), by recipient domain: at
    /// the domain's rate, or cooling down after it deferred our mail. Only configured domains
    /// are keys, so the label set stays small.
    pub mail_domain_deferrals: Mutex<BTreeMap<String, u64>>,
    /// 4xx replies from a limited domain that slowed it down, by recipient domain.
    pub mail_domain_slowdowns: Mutex<BTreeMap<String, u64>>,
}

/// What a received message can be taken for (SPEC §10), as metrics and the ledger name it.
pub const INBOUND_KINDS: [&str; 8] = [
    "hard_bounce",
    "soft_bounce",
    "complaint",
    "unsubscribe",
    "auto_reply",
    "notice",
    "forged",
    "unrecognised",
];

impl Metrics {
    /// Counts one answered request.
    pub fn count_request(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.http_requests[class].fetch_add(1, Relaxed);
    }

    /// Records one SMTP transaction's duration.
    pub fn observe_smtp(&self, d: std::time::Duration) {
        self.smtp_latency_micros_sum
            .fetch_add(d.as_micros() as u64, Relaxed);
        self.smtp_latency_count.fetch_add(1, Relaxed);
    }

    /// Counts one received message of `kind` (one of [`INBOUND_KINDS`]).
    pub fn count_inbound(&self, kind: &str) {
        if let Some(i) = INBOUND_KINDS.iter().position(|k| *k == kind) {
            self.inbound[i].fetch_add(1, Relaxed);
        }
    }

    /// Shows `domain` with zero counts, so that its series exist before its first deferral.
    pub fn add_limited_domain(&self, domain: &str) {
        for map in [&self.mail_domain_deferrals, &self.mail_domain_slowdowns] {
            map.lock()
                .expect("metrics lock")
                .entry(domain.to_owned())
                .or_insert(0);
        }
    }

    /// Counts one send to `domain` held back by its limit.
    pub fn count_domain_deferral(&self, domain: &str) {
        bump(&self.mail_domain_deferrals, domain);
    }

    /// Counts one 4xx from `domain` that slowed it down.
    pub fn count_domain_slowdown(&self, domain: &str) {
        bump(&self.mail_domain_slowdowns, domain);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let g = |a: &AtomicU64| a.load(Relaxed);
        out.push_str("# HELP tidings_http_requests_total HTTP requests answered, by status class.\n# TYPE tidings_http_requests_total counter\n");
        for (i, c) in self.http_requests.iter().enumerate() {
            let _ = writeln!(
                out,
                "tidings_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                g(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tidings_http_connections_open HTTP connections open now.\n# TYPE tidings_http_connections_open gauge\ntidings_http_connections_open {}",
            g(&self.http_connections_open)
        );
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "tidings_feed_renders_total",
            "Feed documents rendered.",
            &[("", g(&self.feed_renders))],
        );
        counter(
            "tidings_articles_ingested_total",
            "Article writes by result.",
            &[
                ("{result=\"created\"}", g(&self.articles_created)),
                ("{result=\"updated\"}", g(&self.articles_updated)),
                ("{result=\"unchanged\"}", g(&self.articles_unchanged)),
                ("{result=\"retracted\"}", g(&self.articles_retracted)),
            ],
        );
        counter(
            "tidings_source_errors_total",
            "Failed source polls or files.",
            &[("", g(&self.source_errors))],
        );
        counter(
            "tidings_deliveries_total",
            "Digest deliveries by outcome.",
            &[
                ("{outcome=\"sent\"}", g(&self.deliveries_sent)),
                ("{outcome=\"failed\"}", g(&self.deliveries_failed)),
                ("{outcome=\"bounced\"}", g(&self.deliveries_bounced)),
                ("{outcome=\"skipped\"}", g(&self.deliveries_skipped)),
                ("{outcome=\"uncertain\"}", g(&self.deliveries_uncertain)),
                ("{outcome=\"deferred\"}", g(&self.deliveries_deferred)),
            ],
        );
        let inbound: Vec<(String, u64)> = INBOUND_KINDS
            .iter()
            .zip(&self.inbound)
            .map(|(k, c)| (format!("{{kind=\"{k}\"}}"), g(c)))
            .collect();
        let inbound: Vec<(&str, u64)> = inbound.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        counter(
            "tidings_inbound_messages_total",
            "Received mail (bounces, complaints, unsubscribes) by what it was taken for.",
            &inbound,
        );
        counter(
            "tidings_bounces_total",
            "Bounces that came back after the 250, hard and soft.",
            &[
                ("{kind=\"hard\"}", g(&self.inbound[0])),
                ("{kind=\"soft\"}", g(&self.inbound[1])),
            ],
        );
        counter(
            "tidings_complaints_total",
            "Complaint (feedback loop) reports received.",
            &[("", g(&self.inbound[2]))],
        );
        for (name, help, map) in [
            (
                "tidings_mail_domain_deferrals_total",
                "Sends held back by a mail.domain_limits entry (nothing written), by recipient domain.",
                &self.mail_domain_deferrals,
            ),
            (
                "tidings_mail_domain_slowdowns_total",
                "4xx replies from a limited recipient domain that slowed it down, by domain.",
                &self.mail_domain_slowdowns,
            ),
        ] {
            let rows: Vec<(String, u64)> = map
                .lock()
                .expect("metrics lock")
                .iter()
                .map(|(d, n)| (format!("{{domain=\"{d}\"}}"), *n))
                .collect();
            let rows: Vec<(&str, u64)> = rows.iter().map(|(l, n)| (l.as_str(), *n)).collect();
            counter(name, help, &rows);
        }
        let _ = writeln!(
            out,
            "# HELP tidings_delivery_queue_depth Deliveries pending.\n# TYPE tidings_delivery_queue_depth gauge\ntidings_delivery_queue_depth {}",
            g(&self.delivery_queue_depth)
        );
        let _ = writeln!(
            out,
            "# HELP tidings_smtp_latency_seconds SMTP transaction time.\n# TYPE tidings_smtp_latency_seconds summary\ntidings_smtp_latency_seconds_sum {}\ntidings_smtp_latency_seconds_count {}",
            g(&self.smtp_latency_micros_sum) as f64 / 1e6,
            g(&self.smtp_latency_count)
        );
        out
    }
}

/// Adds one to `key`'s count.
fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    let mut m = map.lock().expect("metrics lock");
    match m.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            m.insert(key.to_owned(), 1);
        }
    }
}
