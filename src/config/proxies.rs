//! `server.trusted_proxies`: the reverse proxies (nginx, a load balancer) whose
//! `X-Forwarded-For` is believed, so that the console's login throttling and audit log see
//! the real client instead of the proxy.

use std::net::IpAddr;

use serde::Deserialize;

/// An address or a CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl TryFrom<String> for IpRange {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or CIDR block (e.g. 10.0.0.0/8)");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let base: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { base, prefix })
    }
}

impl IpRange {
    /// Whether `ip` lies in this range (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(b) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(b) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client of a request that came from `peer` with `X-Forwarded-For` `forwarded` (all
/// its header lines joined by commas): `peer` itself unless it is a trusted proxy; else the
/// right-most address of the header that is not a trusted proxy (each proxy appends the
/// address it got the request from, so addresses left of it are whatever the client said).
pub fn client_address(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpRange]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for part in forwarded.unwrap_or("").rsplit(',') {
        let Ok(ip) = part.trim().parse::<IpAddr>() else {
            // Garbage from here leftwards cannot be trusted: keep the last good one.
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter()
            .map(|s| IpRange::try_from(s.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = ranges(&["10.0.0.0/8", "127.0.0.1", "fd00::/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not from a proxy: the header is whatever the client made up.
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // nginx on 127.0.0.1 appended the real client; the spoofed left part is ignored.
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("1.2.3.4, 198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // Two proxies: skip the inner one.
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("198.51.100.7, 10.1.2.3"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), None, &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("bogus"), &trusted),
            ip("127.0.0.1")
        );
        assert!(ranges(&["10.0.0.0/8"])[0].contains(ip("::ffff:10.9.9.9")));
        assert!(IpRange::try_from("10.0.0.0/33".to_string()).is_err());
        assert!(IpRange::try_from("nginx".to_string()).is_err());
        assert!(ranges(&["0.0.0.0/0"])[0].contains(ip("8.8.8.8")));
    }
}
