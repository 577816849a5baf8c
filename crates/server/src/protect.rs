//! Defences: the client address behind trusted proxies, and in-memory rate limiters. Account
//! lockout lives in the store (every instance enforces it); these limiters are per instance.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The client's address: the peer, unless the peer is a trusted proxy, in which case the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Headers from anyone else are ignored.
#[must_use]
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
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

/// `N` events per `window`, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed per window.
    pub count: u32,
    /// The window.
    pub window: Duration,
}

impl Limit {
    /// Parses `N/DURATION` (e.g. `30/5m`) or `off`.
    ///
    /// # Errors
    /// A message saying what is expected.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let raw = raw.trim();
        if raw == "off" || raw == "0" {
            return Ok(None);
        }
        let bad = || format!("{raw:?} is not a limit; use N/DURATION such as 30/5m, or off");
        let (n, w) = raw.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().ok().filter(|c| *c > 0).ok_or_else(bad)?;
        let window = crate::config::parse_duration(w)
            .filter(|d| !d.is_zero())
            .ok_or_else(bad)?;
        Ok(Some(Self { count, window }))
    }
}

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

    /// Whether `key` is over the limit: `Some(seconds until the window ends)` if so.
    #[must_use]
    pub fn blocked(&self, key: &str) -> Option<u64> {
        let limit = self.limit?;
        let windows = self.windows.lock().ok()?;
        let (start, count) = windows.get(key)?;
        let left = limit.window.checked_sub(start.elapsed())?;
        (*count >= limit.count).then(|| left.as_secs().max(1))
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

    /// Forgets `key` (after a success).
    pub fn clear(&self, key: &str) {
        if let Ok(mut w) = self.windows.lock() {
            w.remove(key);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_count() {
        assert_eq!(Limit::parse("off").unwrap(), None);
        assert!(Limit::parse("ten/5m").is_err());
        let l = Limiter::new("t", Limit::parse("2/1h").unwrap());
        assert_eq!(l.hit("a"), None);
        assert_eq!(l.blocked("a"), None);
        assert_eq!(l.hit("a"), None);
        assert!(l.blocked("a").is_some());
        assert!(l.hit("a").is_some());
        assert_eq!(l.hit("b"), None, "keys are independent");
        l.clear("a");
        assert_eq!(l.blocked("a"), None);
        let off = Limiter::new("off", None);
        for _ in 0..100 {
            assert_eq!(off.hit("x"), None);
        }
    }
}
