//! Redirect URIs: validated at registration, matched as exact strings (RFC 3986 §6.2.1), except
//! the port of an `http` loopback IP literal (RFC 8252 §7.3).

use crate::error::{Error, invalid_request};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use url::{Host, Url};

/// A registered or requested redirect URI, kept exactly as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

stored_string!(RedirectUri, "The URI exactly as registered or requested.");

impl RedirectUri {
    /// Validates a URI for registration.
    ///
    /// # Errors
    /// `invalid_request` naming the problem: not absolute, has a fragment (RFC 6749 §3.1.2),
    /// plain `http` to a non-loopback host (RFC 9700 §2.6), or a dangerous scheme.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let url = Url::parse(value).map_err(|e| {
            invalid_request(format!(
                "redirect URI {value} is not an absolute URI ({e}); example: https://app.example.com/callback"
            ))
        })?;
        if url.fragment().is_some() || value.contains('#') {
            return Err(invalid_request(format!(
                "redirect URI {value} must not contain a fragment (#...), RFC 6749 section 3.1.2"
            )));
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                if !is_loopback(&url) {
                    return Err(invalid_request(format!(
                        "redirect URI {value} uses plain http for a non-loopback host; use https (http is allowed only for 127.0.0.1, [::1] and localhost)"
                    )));
                }
            }
            // RFC 8252 §7.1: private-use schemes for native apps are reverse domain names.
            scheme if scheme.contains('.') => {}
            scheme => {
                return Err(invalid_request(format!(
                    "redirect URI {value} uses scheme {scheme}; use https, http on loopback, or a reverse-domain private-use scheme such as com.example.app"
                )));
            }
        }
        if url.username() != "" || url.password().is_some() {
            return Err(invalid_request(format!(
                "redirect URI {value} must not contain user information"
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// Whether a requested `redirect_uri` matches this registered one: the same string (RFC 9700
    /// §4.1.3, OAuth 2.1 §4.1.1), or for an `http` loopback IP literal, the same string apart from
    /// the port (RFC 8252 §7.3). Nothing is parsed or normalised first: case, default ports, dot
    /// segments, whitespace and control characters all make a mismatch.
    #[must_use]
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        match (loopback_parts(&self.0), loopback_parts(requested)) {
            (Some(registered), Some(requested)) => registered == requested,
            _ => false,
        }
    }

    /// Whether this is a native app's redirect (RFC 8252 §7): a loopback address over `http`, or a
    /// private-use (reverse-domain) scheme.
    #[must_use]
    pub fn is_native(&self) -> bool {
        Url::parse(&self.0).is_ok_and(|u| match u.scheme() {
            "http" => is_loopback(&u),
            "https" => false,
            _ => true,
        })
    }

    /// Why `requested` came close to this registered URI without matching, if it did: a hint for
    /// an error description that helps the caller fix a typo.
    #[must_use]
    pub fn near_miss(&self, requested: &str) -> Option<&'static str> {
        let a = self.0.as_str();
        if a.trim_end_matches('/') == requested.trim_end_matches('/') {
            Some("it differs from a registered URI only by a trailing slash")
        } else if a.eq_ignore_ascii_case(requested) {
            Some("it differs from a registered URI only in letter case")
        } else if a.split('?').next() == requested.split('?').next() {
            Some("it differs from a registered URI only in its query string")
        } else if strip_port(a) == strip_port(requested) {
            Some("it differs from a registered URI only in its port (only http loopback IP literals may vary the port)")
        } else if a.replacen("https://", "http://", 1) == requested {
            Some("it uses http where the registered URI uses https")
        } else {
            None
        }
    }
}

fn strip_port(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(mut u) => {
            let _ = u.set_port(None);
            u.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

/// Splits `http://HOST[:PORT]REST` into `(HOST, REST)` when HOST is a loopback IP literal written
/// exactly as the address prints (`127.0.0.1`, `[::1]`): spellings such as `127.1`, `2130706433`
/// or `0x7f.1` are not literals of RFC 8252 §7.3 and get no port freedom.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host_end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if let Some(digits) = port.strip_prefix(':') {
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.parse::<u16>().is_err() {
            return None;
        }
    } else if !port.is_empty() {
        return None;
    }
    let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    let canonical = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    (ip.is_loopback() && canonical == host).then_some((host, path))
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        _ => false,
    }
}

fn is_loopback(url: &Url) -> bool {
    is_loopback_ip(url) || url.host_str() == Some("localhost")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uri(s: &str) -> RedirectUri {
        RedirectUri::parse(s).unwrap()
    }

    #[test]
    fn registration_rejects_fragment_plain_http_and_bad_schemes() {
        for bad in [
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "/relative/path",
            "https://user:pw@app.example.com/cb",
        ] {
            let e = RedirectUri::parse(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{bad}");
        }
    }

    #[test]
    fn registration_accepts_https_loopback_and_private_use_schemes() {
        for good in [
            "https://app.example.com/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            RedirectUri::parse(good).unwrap();
        }
    }

    #[test]
    fn matching_is_exact_string_comparison() {
        let r = uri("https://app.example.com/cb");
        assert!(r.matches("https://app.example.com/cb"));
        assert!(!r.matches("https://app.example.com/cb/"));
        assert!(!r.matches("https://APP.example.com/cb"));
        assert!(!r.matches("https://app.example.com:443/cb"));
        assert!(!r.matches("https://app.example.com/cb?x=1"));
        assert!(!r.matches("https://app.example.com/cb/abcdefghij"));
    }

    #[test]
    fn loopback_ip_redirects_may_use_any_port() {
        let r = uri("http://127.0.0.1/cb");
        assert!(r.matches("http://127.0.0.1:51234/cb"));
        assert!(!r.matches("http://127.0.0.1:51234/other"));
        assert!(!r.matches("http://127.0.0.2:51234/cb"));
        let v6 = uri("http://[::1]:9/cb");
        assert!(v6.matches("http://[::1]:4000/cb"));
        // localhost is a name, not a literal: exact match only (RFC 8252 §8.3).
        let named = uri("http://localhost:3000/cb");
        assert!(!named.matches("http://localhost:3001/cb"));
        // https loopback is not covered by §7.3.
        let tls = uri("https://127.0.0.1:8443/cb");
        assert!(!tls.matches("https://127.0.0.1:9443/cb"));
    }

    #[test]
    fn loopback_matching_compares_strings_not_parsed_urls() {
        let r = uri("http://127.0.0.1:9/callback");
        for near in [
            "HTTP://127.0.0.1:9/callback",
            "http://127.0.0.1:9/x/../callback",
            " http://127.0.0.1:9/callback",
            "http://127.0.0.1:9/callback ",
            "http://127.0.0.1:9/callback\0",
            "http://127.0.0.1:9/callback\r",
            "http://127.0.0.1:9/callback\n",
            "http://127.0.0.1:9/callback\t",
            "http://127.1:9/callback",
            "http://2130706433:9/callback",
            "http://0x7f.0.0.1:9/callback",
            "http://127.0.0.1:9/callback?x=1",
            "http://127.0.0.1:9/Callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:123456/callback",
            "http://127.0.0.1:99999/callback",
            "http://127.0.0.1:+80/callback",
            "http://127.0.0.1:9@evil.example/callback",
        ] {
            assert!(!r.matches(near), "{near:?}");
        }
        assert!(r.matches("http://127.0.0.1/callback"));
        assert!(r.matches("http://127.0.0.1:65535/callback"));
        assert!(!uri("http://[::1]/cb").matches("http://[0:0:0:0:0:0:0:1]:5/cb"));
    }

    #[test]
    fn native_redirects_are_loopback_http_and_private_use_schemes() {
        assert!(uri("http://127.0.0.1:9/cb").is_native());
        assert!(uri("http://localhost:3000/cb").is_native());
        assert!(uri("com.example.app:/oauth2redirect").is_native());
        assert!(!uri("https://app.example.com/cb").is_native());
        assert!(!uri("https://127.0.0.1:8443/cb").is_native());
    }

    #[test]
    fn near_miss_explains_trailing_slash_and_port() {
        let r = uri("https://app.example.com/cb");
        assert!(
            r.near_miss("https://app.example.com/cb/")
                .unwrap()
                .contains("trailing slash")
        );
        assert!(r.near_miss("https://app.example.com:8443/cb").unwrap().contains("port"));
        assert!(r.near_miss("https://evil.example/cb").is_none());
    }

    proptest! {
        #[test]
        fn a_registered_uri_matches_itself_and_not_an_extension(path in "[a-z0-9/]{0,20}", extra in "[a-z0-9]{1,10}") {
            let s = format!("https://app.example.com/{path}");
            let r = uri(&s);
            prop_assert!(r.matches(&s));
            let extended = format!("{s}{extra}");
            prop_assert!(!r.matches(&extended));
        }

        #[test]
        fn loopback_port_never_matters(p1 in 1u16.., p2 in 1u16..) {
            let r = uri(&format!("http://127.0.0.1:{p1}/callback"));
            let other = format!("http://127.0.0.1:{p2}/callback");
            prop_assert!(r.matches(&other));
        }
    }
}
