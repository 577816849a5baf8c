//! Reading one setting: its configured value or the table's default, parsed, with an error that
//! names the setting and says what is expected.

use super::ConfigError;
use super::settings;
use std::cell::RefCell;
use std::time::Duration;

/// Reads settings through a lookup (the environment and the file, or a map in tests), taking
/// each default from [`settings::SETTINGS`].
pub(super) struct Reader<G> {
    get: G,
    /// Every setting read, so a test can check that each one is in the table.
    pub(super) read: RefCell<Vec<&'static str>>,
}

fn invalid(setting: &'static str, message: String) -> ConfigError {
    ConfigError { setting, message }
}

impl<G: Fn(&str) -> Option<String>> Reader<G> {
    pub(super) const fn new(get: G) -> Self {
        Self {
            get,
            read: RefCell::new(Vec::new()),
        }
    }

    /// The configured value, if any.
    pub(super) fn set(&self, name: &'static str) -> Option<String> {
        debug_assert!(settings::find(name).is_some(), "{name} is not in SETTINGS");
        self.read.borrow_mut().push(name);
        (self.get)(name)
    }

    /// The configured value, or the table's default.
    pub(super) fn value(&self, name: &'static str) -> Option<String> {
        self.set(name).or_else(|| {
            settings::find(name)
                .and_then(settings::Setting::default_value)
                .map(str::to_owned)
        })
    }

    /// A duration (`90`, `90s`, `15m`, `1h`, `30d`), greater than zero and at most `max`.
    pub(super) fn duration(&self, name: &'static str, max: Duration) -> Result<Duration, ConfigError> {
        let raw = self.value(name).unwrap_or_default();
        let d = parse_duration(&raw).ok_or_else(|| {
            invalid(
                name,
                format!("{raw:?} is not a duration; use seconds or a number with s, m, h or d, e.g. 90s, 15m, 1h, 30d"),
            )
        })?;
        if d.is_zero() {
            return Err(invalid(name, "must be greater than zero".into()));
        }
        if d > max {
            return Err(invalid(
                name,
                format!("{raw} is longer than the maximum of {}s", max.as_secs()),
            ));
        }
        Ok(d)
    }

    /// A whole number within `range`.
    pub(super) fn number(&self, name: &'static str, range: std::ops::RangeInclusive<u64>) -> Result<u64, ConfigError> {
        let raw = self.value(name).unwrap_or_default();
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                invalid(
                    name,
                    format!(
                        "{raw:?} is not a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    pub(super) fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.value(name).as_deref().map(str::trim) {
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            other => Err(invalid(name, format!("{:?} is not true or false", other.unwrap_or("")))),
        }
    }

    /// A value parsed with its type's `FromStr`, whose error says what is expected.
    pub(super) fn parsed<T: std::str::FromStr<Err = String>>(&self, name: &'static str) -> Result<T, ConfigError> {
        self.value(name)
            .unwrap_or_default()
            .trim()
            .parse()
            .map_err(|e| invalid(name, e))
    }

    /// A rate limit, `N/DURATION` or `off`.
    pub(super) fn limit(&self, name: &'static str) -> Result<Option<Limit>, ConfigError> {
        Limit::parse(&self.value(name).unwrap_or_default()).map_err(|message| invalid(name, message))
    }

    /// Comma-separated addresses or CIDRs.
    pub(super) fn nets(&self, name: &'static str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.items(name, |s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or CIDR such as 10.0.0.0/8"))
        })
    }

    /// A comma-separated list, each item read by `parse` (which says what is wrong with one).
    pub(super) fn items<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        let raw = self.value(name).unwrap_or_default();
        list(&raw).map(|s| parse(s).map_err(|m| invalid(name, m))).collect()
    }

    /// An `address:port`, if set.
    pub(super) fn socket(
        &self,
        name: &'static str,
        example: &str,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        self.value(name)
            .map(|raw| {
                raw.parse()
                    .map_err(|_| invalid(name, format!("{raw:?} is not an address:port such as {example}")))
            })
            .transpose()
    }
}

/// The non-empty trimmed items of a comma-separated list.
pub(super) fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `90`, `90s`, `15m`, `1h`, `30d`.
#[must_use]
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = digits.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
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
        let window = parse_duration(w).filter(|d| !d.is_zero()).ok_or_else(bad)?;
        Ok(Some(Self { count, window }))
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The issuer: an absolute http(s) URL without query or fragment; https unless loopback.
pub(super) fn parse_issuer(raw: &str) -> Result<String, ConfigError> {
    let err = |message: String| ConfigError {
        setting: "GATEHOUSE_ISSUER",
        message,
    };
    let url = url::Url::parse(raw).map_err(|e| err(format!("{raw:?} is not an absolute URL ({e})")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err(
            "must not have a query or fragment (OIDC Discovery section 3)".into()
        ));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(err(format!(
                "{raw} uses http for a non-loopback host; an issuer must use https"
            )));
        }
        other => return Err(err(format!("scheme {other} is not http or https"))),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        assert!(parse_duration("1w").is_none());
        assert!(parse_duration("").is_none());
    }
}
