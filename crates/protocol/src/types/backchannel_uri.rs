//! Back-channel logout URIs: validated at registration.

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
        let url = Url::parse(value).map_err(|e| {
            invalid_request(format!(
                "backchannel_logout_uri {value} is not an absolute URI ({e}); example: https://app.example.com/backchannel-logout"
            ))
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(invalid_request(format!(
                "backchannel_logout_uri {value} must use https (or http inside your network), not {}",
                url.scheme()
            )));
        }
        if url.fragment().is_some() || value.contains('#') {
            return Err(invalid_request(format!(
                "backchannel_logout_uri {value} must not contain a fragment (#...), Back-Channel Logout 1.0 section 2.2"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid_request(format!(
                "backchannel_logout_uri {value} must not contain user information (it would be sent and logged)"
            )));
        }
        if url.host().is_none() {
            return Err(invalid_request(format!("backchannel_logout_uri {value} has no host")));
        }
        Ok(Self(value.to_owned()))
    }
}
