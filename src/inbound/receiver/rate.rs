//! Messages per client address per minute (`[inbound] per_ip_per_minute`): GCRA, as the HTTP
//! limiter in `subscriptions::limits` does, in a table that never holds more than a fixed
//! number of clients. Times are milliseconds read from the injected clock.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
};

/// Clients remembered at once; past this, only clients whose limit has lapsed are forgotten.
pub(super) const CAPACITY: usize = 4096;

/// Per-client message limiter: `per_minute` at once, then one every `60 s / per_minute` (a
/// client that keeps sending gets `per_minute` a minute; one that paused gets a burst).
pub(super) struct PerMinute {
    interval_ms: i64,
    burst: i64,
    capacity: usize,
    /// Each client's theoretical arrival time of its next message.
    table: Mutex<HashMap<IpAddr, i64>>,
}

impl PerMinute {
    /// `per_minute` messages per client address; at most `capacity` addresses remembered.
    pub fn new(per_minute: u32, capacity: usize) -> Self {
        Self {
            interval_ms: (60_000 / i64::from(per_minute.max(1))).max(1),
            burst: i64::from(per_minute.max(1)),
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may send a message at `now_ms`, without counting one.
    pub fn allows(&self, ip: IpAddr, now_ms: i64) -> bool {
        self.with_tat(ip, now_ms, |tat| {
            let mut probe = *tat;
            self.admit(&mut probe, now_ms)
        })
    }

    /// Counts one message from `ip` at `now_ms`; `false` when over the limit.
    pub fn take(&self, ip: IpAddr, now_ms: i64) -> bool {
        self.with_tat(ip, now_ms, |tat| self.admit(tat, now_ms))
    }

    /// Uncounts a message taken at or before `now_ms` that was not accepted after all.
    pub fn give_back(&self, ip: IpAddr, now_ms: i64) {
        let mut table = self.table.lock().expect("rate table lock");
        if let Some(tat) = table.get_mut(&client_key(ip)) {
            *tat = (*tat - self.interval_ms).max(now_ms);
        }
    }

    /// Runs `f` on the client's arrival time; `false` when the table is full of clients
    /// still being limited (under a flood from many addresses, newcomers wait rather than
    /// the limited clients being forgotten).
    fn with_tat(&self, ip: IpAddr, now_ms: i64, f: impl FnOnce(&mut i64) -> bool) -> bool {
        let key = client_key(ip);
        let mut table = self.table.lock().expect("rate table lock");
        if !table.contains_key(&key) && table.len() >= self.capacity {
            table.retain(|_, tat| *tat > now_ms);
            if table.len() >= self.capacity {
                return false;
            }
        }
        f(table.entry(key).or_insert(now_ms))
    }

    fn admit(&self, tat: &mut i64, now_ms: i64) -> bool {
        let start = (*tat).max(now_ms);
        if start - (self.burst - 1) * self.interval_ms > now_ms {
            return false;
        }
        *tat = start + self.interval_ms;
        true
    }

    /// Clients remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().expect("rate table lock").len()
    }
}

/// Clients of one IPv6 /64 are one client: that is what one host usually gets.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn a_client_gets_n_messages_at_once_then_one_every_nth_of_a_minute() {
        let r = PerMinute::new(3, 100);
        for _ in 0..3 {
            assert!(r.allows(IP, 0));
            assert!(r.take(IP, 0));
        }
        assert!(!r.allows(IP, 0));
        assert!(!r.take(IP, 19_999));
        assert!(
            r.take("192.0.2.2".parse().unwrap(), 0),
            "others are not limited"
        );
        assert!(r.take(IP, 20_000), "a third of a minute gives one more");
        assert!(!r.take(IP, 20_000));
        // A minute after that, all three again.
        for _ in 0..3 {
            assert!(r.take(IP, 80_000));
        }
        assert!(!r.take(IP, 80_000));
    }

    #[test]
    fn asking_counts_nothing_and_a_message_given_back_can_be_sent_again() {
        let r = PerMinute::new(1, 100);
        assert!(r.allows(IP, 0));
        assert!(r.allows(IP, 0));
        assert!(r.take(IP, 0));
        assert!(!r.allows(IP, 0));
        r.give_back(IP, 0);
        assert!(r.take(IP, 0));
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_mapped_ipv4_is_ipv4() {
        let r = PerMinute::new(1, 100);
        assert!(r.take("2001:db8::1".parse().unwrap(), 0));
        assert!(!r.take("2001:db8::2".parse().unwrap(), 0));
        assert!(r.take("2001:db8:0:1::1".parse().unwrap(), 0));
        assert!(r.take("::ffff:192.0.2.1".parse().unwrap(), 0));
        assert!(!r.take(IP, 0));
    }

    #[test]
    fn the_table_stays_within_capacity_and_forgets_clients_whose_limit_lapsed() {
        let r = PerMinute::new(1, 2);
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        assert!(r.take(ip(1), 0));
        assert!(r.take(ip(2), 0));
        assert!(!r.allows(ip(3), 0), "table full of clients still limited");
        assert_eq!(r.len(), 2);
        assert!(r.take(ip(3), 60_000), "lapsed clients were forgotten");
        assert!(r.len() <= 2);
    }
}
