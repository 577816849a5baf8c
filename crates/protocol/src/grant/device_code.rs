//! The device authorization grant (RFC 8628): the user code a person types on another device,
//! and what a device authorization request is granted. Polling decisions are made by the store in
//! one statement (so `slow_down` holds across instances); [`poll_error`] names each outcome.

use super::RegisteredClient;
use crate::error::Error;
use crate::request::Params;
use crate::request::resource::{self, parse_resources};
use crate::types::{GrantType, ScopeSet};

/// The user code alphabet (RFC 8628 §6.1): 20 consonants, no vowels (no words), no look-alikes.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Characters in a user code: 20^8 ≈ 2^34.6 codes.
pub const USER_CODE_LEN: usize = 8;

/// A user code, stored and compared without its dash (`BDFGHJKL`), shown as `BDFG-HJKL`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    /// A code from random bytes: each byte below 240 picks a character (`byte % 20`, unbiased
    /// since 240 is a multiple of 20); bytes from 240 up are skipped. `None` when the bytes ran
    /// out first (the caller draws more).
    #[must_use]
    pub fn from_random(bytes: &[u8]) -> Option<Self> {
        let code: String = bytes
            .iter()
            .filter(|b| **b < 240)
            .take(USER_CODE_LEN)
            .map(|b| char::from(ALPHABET[usize::from(*b % 20)]))
            .collect();
        (code.len() == USER_CODE_LEN).then_some(Self(code))
    }

    /// Reads what a person typed: case does not matter, dashes and spaces are ignored.
    #[must_use]
    pub fn parse(typed: &str) -> Option<Self> {
        let code: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(Self(code))
    }

    /// A code read back from the store.
    #[must_use]
    pub fn from_stored(code: String) -> Self {
        Self(code)
    }

    /// The stored form, without the dash.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to people: `XXXX-XXXX`.
    #[must_use]
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

/// A device authorization request (RFC 8628 §3.1), after client authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorizationRequest {
    /// The scopes asked for; `None`: the client's allowed scopes.
    pub scope: Option<ScopeSet>,
    /// Resources (RFC 8707) asked for.
    pub resources: Vec<String>,
}

impl DeviceAuthorizationRequest {
    /// Reads the request's parameters (repeats were refused with client authentication).
    ///
    /// # Errors
    /// `invalid_scope` for a malformed scope, `invalid_target` for a bad resource.
    pub fn parse(params: &Params) -> Result<Self, Error> {
        Ok(Self {
            scope: params.get("scope")?.map(ScopeSet::parse).transpose()?,
            resources: parse_resources(params)?,
        })
    }
}

/// What a device authorization is for, once the client's registration allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    /// The scopes the user is asked to approve.
    pub scope: ScopeSet,
    /// The resources the tokens will be for.
    pub resources: Vec<String>,
}

/// Decides a device authorization request: the client must be allowed the grant, every scope and
/// resource must be allowed to it; without `scope`, every scope it is allowed.
///
/// # Errors
/// `unauthorized_client` naming the command that allows the grant, `invalid_scope` naming the
/// first scope refused, `invalid_target` naming the first resource refused.
pub fn authorize(client: &RegisteredClient<'_>, request: DeviceAuthorizationRequest) -> Result<DeviceGrant, Error> {
    client.verify_grant(GrantType::DeviceCode)?;
    let scope = match request.scope {
        Some(s) => {
            if let Some(bad) = s.iter().find(|x| !client.scopes.contains(x.as_str())) {
                return Err(Error::InvalidScope(
                    format!("scope {} is not allowed for this client", bad.as_str()).into(),
                ));
            }
            s
        }
        None => client.scopes.clone(),
    };
    resource::verify_allowed(&request.resources, client.resources)?;
    Ok(DeviceGrant {
        scope,
        resources: request.resources,
    })
}

/// Where a device authorization stands when its device polls (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Nobody has decided yet.
    Pending,
    /// Approved and now redeemed by this poll: issue the tokens.
    Redeemed,
    /// The user said no.
    Denied,
}

/// The error a poll gets, unless it is the one that redeems an approved authorization.
#[must_use]
pub fn poll_error(status: DeviceStatus, expired: bool, too_fast: bool, interval: i64) -> Option<Error> {
    if expired {
        return Some(Error::ExpiredToken(
            "the device_code has expired; start a new device authorization".into(),
        ));
    }
    match status {
        DeviceStatus::Redeemed => None,
        DeviceStatus::Denied => Some(Error::AccessDenied("the user denied the authorization".into())),
        DeviceStatus::Pending if too_fast => Some(Error::SlowDown(
            format!("polled faster than the interval; wait at least {interval} seconds between requests").into(),
        )),
        DeviceStatus::Pending => Some(Error::AuthorizationPending(
            "the user has not approved the request yet; keep polling at the interval".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ClientId, ClientKind};
    use proptest::prelude::*;

    #[test]
    fn typed_codes_ignore_case_dashes_and_spaces() {
        let code = UserCode::parse("bdfg-hjkl").unwrap();
        assert_eq!(code.as_str(), "BDFGHJKL");
        assert_eq!(code.display(), "BDFG-HJKL");
        assert_eq!(UserCode::parse(" BDFG HJKL "), Some(code));
        for bad in ["BDFG-HJK", "BDFG-HJKLM", "ABCD-EFGH", "BDFG-HJK1", ""] {
            assert_eq!(UserCode::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn random_codes_have_the_shape_and_read_back(bytes in proptest::collection::vec(any::<u8>(), 8..64)) {
            if let Some(code) = UserCode::from_random(&bytes) {
                prop_assert_eq!(code.as_str().len(), USER_CODE_LEN);
                prop_assert!(code.as_str().bytes().all(|b| ALPHABET.contains(&b)));
                prop_assert_eq!(UserCode::parse(&code.display().to_lowercase()), Some(code));
            }
        }

        #[test]
        fn anything_typed_is_a_valid_code_or_none(typed in ".{0,40}") {
            if let Some(code) = UserCode::parse(&typed) {
                prop_assert!(code.as_str().bytes().all(|b| ALPHABET.contains(&b)));
            }
        }
    }

    #[test]
    fn the_grant_is_checked_against_the_registration() {
        let id = ClientId::parse("tv").unwrap();
        let scopes = ScopeSet::from_static(&["openid", "offline_access"]);
        let grants = [GrantType::DeviceCode];
        let client = RegisteredClient {
            id: &id,
            kind: ClientKind::Public,
            grant_types: &grants,
            scopes: &scopes,
            resources: &[],
        };
        let ask = |scope: Option<&str>| DeviceAuthorizationRequest {
            scope: scope.map(|s| ScopeSet::parse(s).unwrap()),
            resources: vec![],
        };
        assert_eq!(authorize(&client, ask(None)).unwrap().scope, scopes);
        assert!(matches!(
            authorize(&client, ask(Some("email"))),
            Err(Error::InvalidScope(_))
        ));
        let none: [GrantType; 0] = [];
        let not_allowed = RegisteredClient {
            grant_types: &none,
            ..client
        };
        assert!(matches!(
            authorize(&not_allowed, ask(None)),
            Err(Error::UnauthorizedClient(_))
        ));
    }

    #[test]
    fn polls_are_answered_in_the_order_rfc_8628_gives() {
        use DeviceStatus::*;
        assert_eq!(
            poll_error(Pending, false, false, 5).unwrap().code(),
            "authorization_pending"
        );
        assert_eq!(poll_error(Pending, false, true, 10).unwrap().code(), "slow_down");
        assert_eq!(poll_error(Denied, false, false, 5).unwrap().code(), "access_denied");
        assert_eq!(poll_error(Pending, true, true, 5).unwrap().code(), "expired_token");
        assert!(poll_error(Redeemed, false, true, 5).is_none());
    }
}
