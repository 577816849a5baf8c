//! URIs Gatehouse calls on a client's behalf (back-channel logout, `jwks_uri`): validated at
//! registration.

use crate::error::{Error, invalid_request};
use serde::{Deserialize, Serialize};
use url::Url;

/// A client's back-channel logout URI (Back-Channel Logout 1.0 §2.2): absolute `http` or `https`,
/// no fragment, no user information. It usually names a host inside the operator's network, so
/// plain `http` is allowed; the outbound client decides which addresses may be called.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BackchannelUri(String);

stored_string!(BackchannelUri, "The URI exactly as registered.");

impl BackchannelUri {
    /// Validates a URI for registration.
    ///
    /// # Errors
    /// `invalid_request` naming the rule it breaks.
    pub fn parse(value: &str) -> Result<Self, Error> {
        check(
            "backchannel_logout_uri",
            value,
            "https://app.example.com/backchannel-logout",
            false,
        )?;
        Ok(Self(value.to_owned()))
    }
}

/// A client's `jwks_uri` (RFC 7591 §2): https, or plain http on a loopback host only (keys fetched
/// over plain http across a network could be swapped on the way); no fragment, no user
/// information.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JwksUri(String);

stored_string!(JwksUri, "The URI exactly as registered.");

impl JwksUri {
    /// Validates a URI for registration.
    ///
    /// # Errors
    /// `invalid_request` naming the rule it breaks.
    pub fn parse(value: &str) -> Result<Self, Error> {
        check("jwks_uri", value, "https://app.example.com/jwks.json", true)?;
        Ok(Self(value.to_owned()))
    }
}

/// The rules both share; `https_only` allows plain http on loopback hosts only.
fn check(member: &str, value: &str, example: &str, https_only: bool) -> Result<(), Error> {
    let url = Url::parse(value).map_err(|e| {
        invalid_request(format!(
            "{member} {value} is not an absolute URI ({e}); example: {example}"
        ))
    })?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid_request(format!("{member} {value} has no host"))),
    };
    match url.scheme() {
        "https" => {}
        "http" if !https_only || loopback => {}
        "http" => {
            return Err(invalid_request(format!(
                "{member} {value} must use https (plain http only on a loopback host)"
            )));
        }
        other => {
            let allowed = if https_only {
                "https"
            } else {
                "https (or http inside your network)"
            };
            return Err(invalid_request(format!(
                "{member} {value} must use {allowed}, not {other}"
            )));
        }
    }
    if url.fragment().is_some() || value.contains('#') {
        return Err(invalid_request(format!(
            "{member} {value} must not contain a fragment (#...)"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid_request(format!(
            "{member} {value} must not contain user information (it would be sent and logged)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_uris_need_https_except_on_loopback() {
        for ok in [
            "https://app.example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/j",
            "http://[::1]/j",
        ] {
            assert!(JwksUri::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://app.example.com/jwks", "https"),
            ("https://app.example.com/jwks#k", "fragment"),
            ("https://u:p@app.example.com/jwks", "user information"),
            ("ftp://app.example.com/jwks", "https"),
            ("/jwks", "absolute"),
        ] {
            let e = JwksUri::parse(bad).unwrap_err().description();
            assert!(e.contains("jwks_uri") && e.contains(why), "{bad}: {e}");
        }
    }
}
