//! Revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1) requests.

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

/// A revocation or introspection request.
#[derive(Debug)]
pub struct TokenManagementRequest {
    /// The token to revoke or describe.
    pub token: Secret,
    /// The caller's hint; unknown values are ignored (RFC 7009 §2.2.1 lets the server search all).
    pub hint: Option<TokenTypeHint>,
}

impl TokenManagementRequest {
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
            TokenManagementRequest::parse(&Params::default()).unwrap_err().code(),
            "invalid_request"
        );
        let r =
            TokenManagementRequest::parse(&Params::from_pairs([("token", "t"), ("token_type_hint", "weird")])).unwrap();
        assert_eq!(r.hint, None);
        let r = TokenManagementRequest::parse(&Params::from_pairs([
            ("token", "t"),
            ("token_type_hint", "refresh_token"),
        ]))
        .unwrap();
        assert_eq!(r.hint, Some(TokenTypeHint::RefreshToken));
    }
}
