//! Defences: the client address behind trusted proxies, and in-memory rate limiters. Account
//! lockout lives in the store (every instance enforces it); these limiters are per instance.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Headers from anyone else are ignored.
#[must_use]
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    // An IPv4 peer on a dual-stack listener arrives as ::ffff:a.b.c.d.
    let peer = req.peer_addr()?.ip().to_canonical();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    forwarded
        .split(',')
        .rev()
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
        .or(Some(peer))
}

/// Whether the request came from one of the trusted proxies.
#[must_use]
pub fn via_trusted_proxy(req: &HttpRequest, trusted: &[IpNet]) -> bool {
    req.peer_addr()
        .is_some_and(|p| trusted.iter().any(|n| n.contains(&p.ip().to_canonical())))
}

/// The key per-address limits count under: the address itself for IPv4, its /64 for IPv6 (one
/// IPv6 customer usually holds a whole /64, so counting /128s would give them 2^64 keys).
#[must_use]
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(String::new, |v4| v4.to_string()),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => String::new(),
    }
}

pub use crate::config::Limit;

/// Fixed-window counters per key. Memory is bounded: beyond `MAX_KEYS` expired windows are dropped,
/// and if that is not enough the oldest half is.
pub struct Limiter {
    name: &'static str,
    limit: Option<Limit>,
    // A std mutex: held for a map lookup only, never across an await.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const MAX_KEYS: usize = 100_000;

impl Limiter {
    /// A limiter called `name` (the metric label) with `limit` (`None`: off).
    #[must_use]
    pub fn new(name: &'static str, limit: Option<Limit>) -> Self {
        Self {
            name,
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The metric label.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Counts one event for `key`; returns `Some(retry_after)` if it is over the limit now.
    pub fn hit(&self, key: &str) -> Option<u64> {
        let limit = self.limit?;
        let mut windows = self.windows.lock().ok()?;
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            windows.retain(|_, (start, _)| start.elapsed() < limit.window);
            if windows.len() >= MAX_KEYS {
                let mut starts: Vec<Instant> = windows.values().map(|(s, _)| *s).collect();
                starts.sort();
                let cutoff = starts[starts.len() / 2];
                windows.retain(|_, (start, _)| *start > cutoff);
            }
        }
        let entry = windows.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= limit.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        let left = limit.window.saturating_sub(entry.0.elapsed());
        (entry.1 > limit.count).then(|| left.as_secs().max(1))
    }

    /// Takes back one event counted for `key` (a reserved attempt that succeeded).
    pub fn release(&self, key: &str) {
        if let Ok(mut w) = self.windows.lock()
            && let Some(entry) = w.get_mut(key)
        {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

/// Counts work in progress per key, to cap how many password verifications one account or one
/// address can have running at once (per instance).
#[derive(Default)]
pub struct InFlight {
    // A std mutex: held for a map update only, never across an await.
    counts: std::sync::Arc<Mutex<HashMap<String, u32>>>,
}

/// One unit of work counted by [`InFlight`]; dropping it ends the work.
pub struct InFlightGuard {
    counts: std::sync::Arc<Mutex<HashMap<String, u32>>>,
    key: String,
}

impl InFlight {
    /// Starts work under `key` unless `max` are in progress already.
    #[must_use]
    pub fn enter(&self, key: &str, max: u32) -> Option<InFlightGuard> {
        let mut counts = self.counts.lock().ok()?;
        let n = counts.entry(key.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            counts: std::sync::Arc::clone(&self.counts),
            key: key.to_owned(),
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock()
            && let Some(n) = counts.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Every limiter of the server.
pub struct Limiters {
    /// Failed logins per client address.
    pub login_failures_per_ip: Limiter,
    /// Failed client authentications per client id.
    pub client_auth_failures: Limiter,
    /// All token requests per client (off by default).
    pub token_requests: Limiter,
    /// All login form posts per client address (off by default).
    pub login_requests: Limiter,
    /// Client registrations per client address (`GATEHOUSE_RATE_LIMIT_REGISTRATION`).
    pub registrations: Limiter,
    /// Password verifications in progress, per account (`user:NAME`) and per address (`ip:KEY`).
    pub logins_in_flight: InFlight,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_share_their_64_and_ipv4_stays_whole() {
        let key = |s: &str| address_key(Some(s.parse().unwrap()));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn in_flight_work_is_capped_and_released_on_drop() {
        let f = InFlight::default();
        let a = f.enter("k", 2).unwrap();
        let _b = f.enter("k", 2).unwrap();
        assert!(f.enter("k", 2).is_none());
        assert!(f.enter("other", 2).is_some());
        drop(a);
        assert!(f.enter("k", 2).is_some());
    }

    #[test]
    fn limits_parse_and_count() {
        assert_eq!(Limit::parse("off").unwrap(), None);
        assert!(Limit::parse("ten/5m").is_err());
        let l = Limiter::new("t", Limit::parse("2/1h").unwrap());
        assert_eq!(l.hit("a"), None);
        assert_eq!(l.hit("a"), None);
        assert!(l.hit("a").is_some(), "the third event in the window is over");
        assert_eq!(l.hit("b"), None, "keys are independent");
        l.hit("c");
        l.hit("c");
        l.release("c");
        assert_eq!(l.hit("c"), None, "a released event no longer counts");
        assert!(l.hit("c").is_some());
        let off = Limiter::new("off", None);
        for _ in 0..100 {
            assert_eq!(off.hit("x"), None);
        }
    }
}
