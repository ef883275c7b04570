//! Rate limits on what sends mail: per client address on `POST /subscribe` (per process), and
//! a global hourly budget of confirmation mails (shared through the database). Both are GCRA
//! (a "theoretical arrival time" per key) read from the injected clock, so tests move time
//! instead of sleeping.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
};

use crate::store::Store;

/// One address gets at most one mail from `POST /subscribe` per this interval (SPEC §5).
pub const RESEND_INTERVAL_MS: i64 = 10 * 60_000;

/// `burst` requests at once, then one per `interval_ms`.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    interval_ms: i64,
    burst: i64,
}

impl Gcra {
    fn per_hour(per_hour: u32, burst: u32) -> Self {
        Self {
            interval_ms: (3_600_000 / i64::from(per_hour.max(1))).max(1),
            burst: i64::from(burst.max(1)),
        }
    }

    /// Admits a request at `now` (moving `tat` on) or says how many ms until one would be.
    fn admit(self, tat: &mut i64, now: i64) -> Result<(), i64> {
        let start = (*tat).max(now);
        let allowed_at = start - (self.burst - 1) * self.interval_ms;
        if allowed_at > now {
            return Err(allowed_at - now);
        }
        *tat = start + self.interval_ms;
        Ok(())
    }

    /// Undoes one admission made before `now`.
    fn give_back(self, tat: &mut i64, now: i64) {
        *tat = (*tat - self.interval_ms).max(now);
    }
}

/// The arrival time of a key never seen: its whole burst is free.
const FRESH_TAT: i64 = i64::MIN / 2;

/// Whole seconds a client should wait, for `Retry-After` (at least 1).
fn secs(ms: i64) -> u64 {
    (ms.max(1) as u64).div_ceil(1000)
}

/// Clients of one IPv6 /64 are one client: that is what one host usually gets.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// A per-client limiter whose table never holds more than `capacity` clients.
pub struct ClientLimiter {
    gcra: Gcra,
    capacity: usize,
    table: Mutex<HashMap<IpAddr, i64>>,
}

impl ClientLimiter {
    /// `burst` at once, then `per_hour`; remembers at most `capacity` clients.
    pub fn new(burst: u32, per_hour: u32, capacity: u32) -> Self {
        Self {
            gcra: Gcra::per_hour(per_hour, burst),
            capacity: capacity.max(1) as usize,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request from `ip` at `now_ms`, or says how many seconds to wait.
    pub fn check(&self, ip: IpAddr, now_ms: i64) -> Result<(), u64> {
        let key = client_key(ip);
        let mut table = self.table.lock().expect("limiter lock");
        if !table.contains_key(&key) && table.len() >= self.capacity {
            // A client whose arrival time has passed is indistinguishable from a new one.
            table.retain(|_, tat| *tat > now_ms);
            if table.len() >= self.capacity {
                // Still full: under a flood from many addresses, refuse newcomers rather
                // than forget the clients being limited.
                return Err(secs(self.gcra.interval_ms));
            }
        }
        let tat = table.entry(key).or_insert(now_ms);
        self.gcra.admit(tat, now_ms).map_err(secs)
    }

    /// Clients currently remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().expect("limiter lock").len()
    }
}

/// One budget for every process of the database, e.g. confirmation mails per hour: kept in
/// the database ([`Store::take_budget`]), so several replicas share it instead of each having
/// its own.
#[derive(Clone)]
pub struct Budget {
    name: &'static str,
    gcra: Gcra,
}

impl Budget {
    /// `per_hour` spread over the hour, all of it usable at once.
    pub fn per_hour(name: &'static str, per_hour: u32) -> Self {
        Self {
            name,
            gcra: Gcra::per_hour(per_hour, per_hour),
        }
    }

    /// Takes one unit at `now_ms`, or says how many seconds until one is free.
    pub async fn take(&self, store: &Store, now_ms: i64) -> anyhow::Result<Result<(), u64>> {
        let g = self.gcra;
        let taken = store
            .update_budget(self.name, FRESH_TAT, |tat| g.admit(tat, now_ms))
            .await?;
        Ok(taken.map_err(secs))
    }

    /// Returns a unit taken for a mail that was not sent after all. Best effort: if the
    /// database refuses, the unit stays spent (the budget errs on the side of fewer mails).
    pub async fn give_back(&self, store: &Store, now_ms: i64) {
        let g = self.gcra;
        let given = store
            .update_budget(self.name, FRESH_TAT, |tat| g.give_back(tat, now_ms))
            .await;
        if let Err(e) = given {
            tracing::warn!(error = %e, budget = self.name, "could not give back a budget unit");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_for_the_next_slot() {
        let l = ClientLimiter::new(3, 60, 100);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip, 0).is_ok());
        }
        assert_eq!(l.check(ip, 0), Err(60));
        assert!(l.check("192.0.2.2".parse().unwrap(), 0).is_ok());
        assert!(l.check(ip, 60_000).is_ok());
    }

    #[test]
    fn addresses_of_one_ipv6_slash_64_share_a_limit() {
        let l = ClientLimiter::new(1, 60, 100);
        assert!(l.check("2001:db8::1".parse().unwrap(), 0).is_ok());
        assert!(l.check("2001:db8::2".parse().unwrap(), 0).is_err());
        assert!(l.check("2001:db8:0:1::1".parse().unwrap(), 0).is_ok());
    }

    #[test]
    fn the_table_stays_within_capacity_and_forgets_clients_whose_limit_lapsed() {
        let l = ClientLimiter::new(1, 3600, 2);
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        assert!(l.check(ip(1), 0).is_ok());
        assert!(l.check(ip(2), 0).is_ok());
        assert!(l.check(ip(3), 0).is_err(), "table full of live entries");
        assert_eq!(l.len(), 2);
        assert!(l.check(ip(3), 1_000).is_ok(), "lapsed entries were dropped");
        assert!(l.len() <= 2);
    }

    #[test]
    fn a_budget_refills_over_the_hour_and_takes_back_unused_units() {
        // The arithmetic of `Budget` (whose value lives in the database; the sharing itself is
        // tested in tests/subscriptions_abuse.rs on both backends).
        let b = Gcra::per_hour(2, 2);
        let mut tat = FRESH_TAT;
        assert!(b.admit(&mut tat, 0).is_ok());
        assert!(b.admit(&mut tat, 0).is_ok());
        assert_eq!(b.admit(&mut tat, 0).map_err(secs), Err(1800));
        b.give_back(&mut tat, 0);
        assert!(b.admit(&mut tat, 0).is_ok());
        assert!(b.admit(&mut tat, 1_800_000).is_ok());
    }
}
