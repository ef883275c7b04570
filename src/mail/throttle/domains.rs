//! `[[mail.domain_limits]]`: a send rate per recipient domain, shared by every process of one
//! database the way `mail.rate_per_second` is (a budget per domain in `send_budgets`, one slot
//! per message, no burst).
//!
//! Matching: the recipient's domain as stored (lower case, IDN as punycode), exactly. A limit
//! on `qq.com` does not cover `vip.qq.com` or `foxmail.com`: providers rate their domains
//! separately, and an operator lists each one that needs a limit.
//!
//! The domain is checked before the global slot is taken, in one of two ways:
//! - digest mail ([`Patience::Moment`]) waits for its domain slot only when it is a moment
//!   away (at most [`MOMENT`], and at most [`WAITERS`] slots ahead). Otherwise nothing is
//!   reserved and the send is held back with the time its turn should come: the delivery goes
//!   back to the queue instead of holding one of the worker's sending slots, so other domains
//!   go at full speed. Each process spaces the deliveries it sends back one interval apart, so
//!   that they do not all return at the same instant.
//! - other mail ([`Patience::Wait`]: confirmation mails, console test sends) reserves its
//!   domain slot and waits for it, however far: there are few of them.
//!
//! Slowing down: a 4xx reply from a limited domain (to RCPT, DATA or the final ".") starts a
//! cool-down of that domain for every process: no slot before it ends. It lasts 30 s, doubles
//! with each deferral in a row (up to 10 min), and the count resets at the first message the
//! domain accepts again. Other domains are not affected.
//!
//! Time: with the system clock, the budget's timeline is the database's (see
//! `Store::update_send_budget`); with a test's manual clock it is that clock, so that tests
//! move time instead of sleeping. Waits of a moment are slept on real time either way. With no
//! database (`Mailer::from_config`), or while it does not answer, each process keeps each
//! domain's limit on its own.

use std::{collections::HashMap, sync::Arc, sync::Mutex, time::Duration};

use tokio::time::{Instant, timeout};

use super::gcra::{self, Ask, MAX_COOL_DOWN_US};
use crate::{
    clock::Clock,
    config::MailConfig,
    domain,
    metrics::Metrics,
    store::{SendBudget, Store},
};

/// The longest digest mail waits for its domain slot before being held back instead.
pub const MOMENT: Duration = Duration::from_millis(500);
/// Digest mail waits for its domain slot only when at most this many slots are ahead of it,
/// so that messages to one domain hold few of the worker's sending slots.
pub const WAITERS: i64 = 8;
/// Longest wait for the database before keeping the limits locally.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long local limits stand in before the database is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How long a send may wait for its domain slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// A moment at most; otherwise it is held back ([`Held`]).
    Moment,
    /// As long as it takes.
    Wait,
}

/// A send held back by its domain's limit: nothing was reserved or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub domain: String,
    /// When its turn should come.
    pub retry_after: Duration,
    /// Why, in words for the deliveries list.
    pub reason: String,
}

/// One limited domain.
struct Domain {
    name: String,
    per_minute: u32,
    /// The budget's name in `send_budgets`.
    budget: String,
    interval_us: i64,
    local: Mutex<Local>,
}

/// What one process knows of a domain (µs on the local timeline).
#[derive(Default)]
struct Local {
    /// When the next slot is free, as far as this process has seen.
    free_at: i64,
    /// Where this process sends its next held-back message back to.
    cursor: i64,
    /// Deferrals in a row as last read (a success clears them only when set).
    strikes: i32,
    /// The budget itself, when there is no database or it does not answer.
    own: SendBudget,
}

impl Local {
    /// A held-back message's return, one interval after the previous one: µs from `now`.
    fn send_back(&mut self, now: i64, free_at: i64, interval_us: i64) -> i64 {
        let at = self.cursor.max(free_at);
        self.cursor = at + interval_us;
        at - now
    }
}

/// The limits of every configured domain, for one process.
pub struct DomainLimits {
    store: Option<Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    domains: HashMap<String, Domain>,
    /// Set while the database does not answer: local limits stand in until then.
    outage: Mutex<Option<Instant>>,
}

/// `domain` as recipients' addresses store it (lower case, punycode).
fn normalise(domain: &str) -> String {
    match domain::Email::parse(&format!("x@{domain}")) {
        Ok(e) => e.as_str()[2..].to_owned(),
        Err(_) => domain.to_ascii_lowercase(),
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn duration(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}

impl DomainLimits {
    /// The limits of `mail.domain_limits`, shared through `store` when there is one.
    pub fn new(
        config: &MailConfig,
        store: Option<Store>,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Self {
        let domains = config
            .domain_limits
            .iter()
            .map(|l| {
                let name = normalise(&l.domain);
                metrics.add_limited_domain(&name);
                let d = Domain {
                    budget: format!("domain:{name}"),
                    interval_us: (60_000_000 / i64::from(l.per_minute.max(1))).max(1),
                    per_minute: l.per_minute,
                    local: Mutex::default(),
                    name: name.clone(),
                };
                (name, d)
            })
            .collect();
        Self {
            store,
            clock,
            metrics,
            domains,
            outage: Mutex::new(None),
        }
    }

    fn find(&self, to: &domain::Email) -> Option<&Domain> {
        let (_, host) = to.as_str().rsplit_once('@')?;
        self.domains.get(host)
    }

    /// Now on the local timeline, and the instant to give the database (`None`: its own).
    fn now_us(&self) -> (i64, Option<i64>) {
        match &self.clock {
            Clock::System => (micros_since_epoch(), None),
            manual => {
                let now = manual.now().timestamp_micros();
                (now, Some(now))
            }
        }
    }

    /// Runs `f` on `d`'s shared budget, or on this process's own while the database does not
    /// answer.
    async fn update<R>(
        &self,
        d: &Domain,
        (now, db_now): (i64, Option<i64>),
        f: impl Fn(&mut SendBudget, i64) -> R,
    ) -> R {
        let down = self
            .outage
            .lock()
            .expect("limits lock")
            .is_some_and(|until| Instant::now() < until);
        if let (Some(store), false) = (&self.store, down) {
            let shared = store.update_send_budget(&d.budget, db_now, &f);
            let e = match timeout(ANSWER_WITHIN, shared).await {
                Ok(Ok(r)) => {
                    if self.outage.lock().expect("limits lock").take().is_some() {
                        tracing::info!("shared domain limits back: the database answers again");
                    }
                    return r;
                }
                Ok(Err(e)) => e,
                Err(_) => anyhow::anyhow!("the database did not answer within {ANSWER_WITHIN:?}"),
            };
            let mut outage = self.outage.lock().expect("limits lock");
            if outage.is_none() {
                tracing::warn!(error = ?e, retry_in = ?RETRY_AFTER,
                    "shared domain limits unavailable; this process keeps each limit on its own meanwhile");
            }
            *outage = Some(Instant::now() + RETRY_AFTER);
        }
        let mut local = d.local.lock().expect("limits lock");
        f(&mut local.own, now)
    }

    /// Takes the send slot of `to`'s domain (if it is limited), waiting for it as `patience`
    /// allows; otherwise says when to try again.
    pub async fn admit(&self, to: &domain::Email, patience: Patience) -> Result<(), Held> {
        let Some(d) = self.find(to) else {
            return Ok(());
        };
        let now = self.now_us();
        let max_wait_us = match patience {
            Patience::Moment => micros(MOMENT).min(WAITERS * d.interval_us),
            Patience::Wait => i64::MAX / 4,
        };
        let known_busy = {
            // Known to be busy for longer than that: no need to ask the database.
            let mut local = d.local.lock().expect("limits lock");
            let (free_at, cooling) = (local.free_at, local.strikes > 0);
            (free_at - now.0 > max_wait_us)
                .then(|| (local.send_back(now.0, free_at, d.interval_us), cooling))
        };
        if let Some((back, cooling)) = known_busy {
            return Err(self.held(d, back, cooling));
        }
        let ask = Ask {
            interval_us: d.interval_us,
            count: 1,
            max_wait_us,
            max_ahead_us: MAX_COOL_DOWN_US + 10_000 * d.interval_us,
        };
        let (reserved, cooling, strikes) = self
            .update(d, now, |b, t| {
                let cooling = b.cool_until_us > t;
                (gcra::reserve(b, t, ask).map(|s| s - t), cooling, b.strikes)
            })
            .await;
        let outcome = {
            let mut local = d.local.lock().expect("limits lock");
            local.strikes = strikes;
            match reserved {
                Ok(wait) => {
                    local.free_at = now.0 + wait + d.interval_us;
                    Ok(wait)
                }
                Err(wait) => {
                    local.free_at = now.0 + wait;
                    Err(local.send_back(now.0, now.0 + wait, d.interval_us))
                }
            }
        };
        match outcome {
            Ok(wait) => {
                if wait > 0 {
                    tokio::time::sleep(duration(wait)).await;
                }
                Ok(())
            }
            Err(back) => Err(self.held(d, back, cooling)),
        }
    }

    fn held(&self, d: &Domain, back_us: i64, cooling: bool) -> Held {
        self.metrics.count_domain_deferral(&d.name);
        let reason = if cooling {
            format!("{} deferred our mail lately; cooling down", d.name)
        } else {
            format!("{} is limited to {} a minute", d.name, d.per_minute)
        };
        Held {
            domain: d.name.clone(),
            retry_after: duration(back_us),
            reason,
        }
    }

    /// `to`'s domain deferred a message with `reply` (a 4xx): if it is limited, it cools down
    /// for every process. Returns how long until it takes mail again (`None`: not limited).
    pub async fn slowed(&self, to: &domain::Email, reply: &str) -> Option<Duration> {
        let d = self.find(to)?;
        let now = self.now_us();
        let c = self.update(d, now, gcra::cool_down).await;
        self.metrics.count_domain_slowdown(&d.name);
        {
            let mut local = d.local.lock().expect("limits lock");
            local.free_at = local.free_at.max(now.0 + c.remaining_us);
            local.strikes = c.strikes;
        }
        match c.started_us {
            Some(pause) => tracing::warn!(domain = %d.name, reply, strikes = c.strikes,
                pause = ?duration(pause), "recipient domain deferred our mail; no mail to it from any process until the pause ends"),
            None => {
                tracing::debug!(domain = %d.name, reply, "recipient domain deferred our mail during its pause")
            }
        }
        Some(duration(c.remaining_us))
    }

    /// `to`'s domain accepted a message: deferrals in a row start again from zero.
    pub async fn accepted(&self, to: &domain::Email) {
        let Some(d) = self.find(to) else {
            return;
        };
        if d.local.lock().expect("limits lock").strikes == 0 {
            return;
        }
        let now = self.now_us();
        self.update(d, now, |b, _| b.strikes = 0).await;
        d.local.lock().expect("limits lock").strikes = 0;
        tracing::info!(domain = %d.name, "recipient domain takes our mail again");
    }
}

/// Microseconds since the Unix epoch on this process's wall clock.
fn micros_since_epoch() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
