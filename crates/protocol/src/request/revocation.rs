//! Revocation requests (RFC 7009 §2.1); introspection requests (RFC 7662 §2.1) take the same two
//! parameters and reuse the type.

use super::Params;
use crate::error::Error;
use crate::types::Secret;

/// Which kind of token the caller says it sent. A hint only: both kinds are searched
/// (RFC 7009 §2.1, RFC 7662 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

/// The order in which the two kinds of token are searched: the hinted kind first, access tokens
/// first without a hint. Both are always searched (RFC 7009 §2.1, RFC 7662 §2.1: a hint is not
/// trusted).
#[must_use]
pub fn hint_order(hint: Option<TokenTypeHint>) -> [TokenTypeHint; 2] {
    match hint {
        Some(TokenTypeHint::RefreshToken) => [TokenTypeHint::RefreshToken, TokenTypeHint::AccessToken],
        Some(TokenTypeHint::AccessToken) | None => [TokenTypeHint::AccessToken, TokenTypeHint::RefreshToken],
    }
}

/// A revocation request.
#[derive(Debug)]
pub struct RevocationRequest {
    /// The token to revoke or describe.
    pub token: Secret,
    /// The caller's hint; unknown values are ignored (RFC 7009 §2.2.1 lets the server search all).
    pub hint: Option<TokenTypeHint>,
}

/// An introspection request: the same parameters as a revocation request (RFC 7662 §2.1).
pub type IntrospectionRequest = RevocationRequest;

impl RevocationRequest {
    /// The order in which to search the two kinds of token ([`hint_order`]).
    #[must_use]
    pub fn search_order(&self) -> [TokenTypeHint; 2] {
        hint_order(self.hint)
    }

    /// Parses `token` and `token_type_hint`.
    ///
    /// # Errors
    /// `invalid_request` when `token` is missing.
    pub fn parse(params: &Params) -> Result<Self, Error> {
        let token = Secret::new(params.require("token")?.to_owned());
        let hint = match params.get("token_type_hint")? {
            Some("access_token") => Some(TokenTypeHint::AccessToken),
            Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
            _ => None,
        };
        Ok(Self { token, hint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_required_and_unknown_hints_are_ignored() {
        assert_eq!(
            RevocationRequest::parse(&Params::default()).unwrap_err().code(),
            "invalid_request"
        );
        let r = RevocationRequest::parse(&Params::from_pairs([("token", "t"), ("token_type_hint", "weird")])).unwrap();
        assert_eq!(r.hint, None);
        let r = RevocationRequest::parse(&Params::from_pairs([
            ("token", "t"),
            ("token_type_hint", "refresh_token"),
        ]))
        .unwrap();
        assert_eq!(r.hint, Some(TokenTypeHint::RefreshToken));
    }

    #[test]
    fn the_hinted_kind_is_searched_first_and_both_always_are() {
        use TokenTypeHint::{AccessToken, RefreshToken};
        assert_eq!(hint_order(Some(RefreshToken)), [RefreshToken, AccessToken]);
        assert_eq!(hint_order(Some(AccessToken)), [AccessToken, RefreshToken]);
        assert_eq!(hint_order(None), [AccessToken, RefreshToken]);
    }
}
