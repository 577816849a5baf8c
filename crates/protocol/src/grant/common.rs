//! What every grant checks: the authenticated client may use the grant, and the user a grant's
//! tokens are for still exists and is not locked.

use crate::error::Error;
use crate::types::{ClientId, ClientKind, GrantType, ScopeSet};

/// What the grants need to know about the authenticated client, borrowed from its registration.
#[derive(Debug, Clone, Copy)]
pub struct RegisteredClient<'a> {
    /// The `client_id`.
    pub id: &'a ClientId,
    /// Confidential or public.
    pub kind: ClientKind,
    /// The grants it may use.
    pub grant_types: &'a [GrantType],
    /// The scopes it may ask for.
    pub scopes: &'a ScopeSet,
    /// The resources (RFC 8707) it may ask tokens for.
    pub resources: &'a [String],
}

impl RegisteredClient<'_> {
    /// Checks that the client is registered for `grant` (RFC 6749 §5.2).
    ///
    /// # Errors
    /// `unauthorized_client`, naming the CLI command that allows the grant.
    pub fn verify_grant(&self, grant: GrantType) -> Result<(), Error> {
        if self.grant_types.contains(&grant) {
            return Ok(());
        }
        Err(Error::UnauthorizedClient(
            format!(
                "this client is not allowed the {grant} grant; add it with gatehouse client update --grant-type {grant}"
            )
            .into(),
        ))
    }
}

/// The user a grant's tokens are for, as the store has them now: tokens are issued only while
/// the account exists and is not locked, however old the grant.
///
/// # Errors
/// `invalid_grant` when the user is gone or `is_locked` says the account is locked.
pub fn live_user<U>(found: Option<U>, is_locked: impl FnOnce(&U) -> bool) -> Result<U, Error> {
    match found {
        Some(u) if !is_locked(&u) => Ok(u),
        Some(_) => Err(Error::InvalidGrant("the user's account is locked".into())),
        None => Err(Error::InvalidGrant("the user no longer exists".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client<'a>(
        id: &'a ClientId,
        kind: ClientKind,
        grants: &'a [GrantType],
        scopes: &'a ScopeSet,
    ) -> RegisteredClient<'a> {
        RegisteredClient {
            id,
            kind,
            grant_types: grants,
            scopes,
            resources: &[],
        }
    }

    #[test]
    fn a_grant_the_client_is_not_registered_for_is_unauthorized_client() {
        let id = ClientId::parse("app").unwrap();
        let scopes = ScopeSet::default();
        let c = client(&id, ClientKind::Confidential, &[GrantType::AuthorizationCode], &scopes);
        assert!(c.verify_grant(GrantType::AuthorizationCode).is_ok());
        for g in [GrantType::RefreshToken, GrantType::ClientCredentials] {
            let e = c.verify_grant(g).unwrap_err();
            assert_eq!(e.code(), "unauthorized_client");
            assert!(e.description().contains(g.as_str()), "{}", e.description());
        }
    }

    #[test]
    fn a_locked_or_deleted_user_is_invalid_grant() {
        assert!(!live_user(Some(false), |locked| *locked).unwrap());
        assert_eq!(
            live_user(Some(true), |locked| *locked).unwrap_err().code(),
            "invalid_grant"
        );
        assert_eq!(
            live_user(None::<bool>, |locked| *locked).unwrap_err().code(),
            "invalid_grant"
        );
    }
}
