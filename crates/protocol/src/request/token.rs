//! The token request (RFC 6749 §4.1.3, §4.4.2, §6): one variant per supported grant.

use super::Params;
use super::resource::parse_resources;
use crate::error::{Error, invalid_request};
use crate::types::{CodeVerifier, ScopeSet, Secret};

/// A parsed token request.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=authorization_code`.
    AuthorizationCode {
        /// The code from the authorization response.
        code: Secret,
        /// Must equal the authorization request's `redirect_uri` if that carried one.
        redirect_uri: Option<String>,
        /// The PKCE verifier.
        code_verifier: CodeVerifier,
        /// Resources (RFC 8707) narrowing the authorized ones.
        resources: Vec<String>,
    },
    /// `grant_type=refresh_token`.
    RefreshToken {
        /// The refresh token.
        refresh_token: Secret,
        /// A subset of the granted scopes, if narrowing.
        scope: Option<ScopeSet>,
        /// Resources (RFC 8707) narrowing the authorized ones.
        resources: Vec<String>,
    },
    /// `grant_type=client_credentials`.
    ClientCredentials {
        /// The requested scopes.
        scope: Option<ScopeSet>,
        /// Resources (RFC 8707) the token is for.
        resources: Vec<String>,
    },
}

impl TokenRequest {
    /// Parses the grant-specific parameters. Repeated parameters were rejected by the caller.
    ///
    /// # Errors
    /// `invalid_request` for a missing `grant_type` or grant parameter; `unsupported_grant_type`
    /// for anything else, including the removed `password` and `implicit` grants (OAuth 2.1).
    pub fn parse(params: &Params) -> Result<Self, Error> {
        let scope = || -> Result<Option<ScopeSet>, Error> { params.get("scope")?.map(ScopeSet::parse).transpose() };
        match params.get("grant_type")? {
            None => Err(invalid_request(
                "grant_type is required: authorization_code, refresh_token or client_credentials",
            )),
            Some("authorization_code") => Ok(Self::AuthorizationCode {
                code: Secret::new(params.require("code")?.to_owned()),
                redirect_uri: params.get("redirect_uri")?.map(str::to_owned),
                code_verifier: CodeVerifier::parse(params.get("code_verifier")?)?,
                resources: parse_resources(params)?,
            }),
            Some("refresh_token") => Ok(Self::RefreshToken {
                refresh_token: Secret::new(params.require("refresh_token")?.to_owned()),
                scope: scope()?,
                resources: parse_resources(params)?,
            }),
            Some("client_credentials") => Ok(Self::ClientCredentials {
                scope: scope()?,
                resources: parse_resources(params)?,
            }),
            Some(other) => Err(Error::UnsupportedGrantType(
                format!(
                    "grant_type {} is not supported; use authorization_code, refresh_token or client_credentials",
                    truncate(other)
                )
                .into(),
            )),
        }
    }
}

fn truncate(s: &str) -> &str {
    s.char_indices().nth(64).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_removed_grants_are_unsupported() {
        for g in ["password", "implicit", "urn:x"] {
            let p = Params::from_pairs([("grant_type", g)]);
            assert_eq!(TokenRequest::parse(&p).unwrap_err().code(), "unsupported_grant_type");
        }
        assert_eq!(
            TokenRequest::parse(&Params::default()).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn authorization_code_needs_code_and_verifier() {
        let p = Params::from_pairs([("grant_type", "authorization_code"), ("code", "c")]);
        assert_eq!(TokenRequest::parse(&p).unwrap_err().code(), "invalid_request");
        let v = "a".repeat(43);
        let p = Params::from_pairs([
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("code_verifier", v.as_str()),
        ]);
        assert!(matches!(
            TokenRequest::parse(&p).unwrap(),
            TokenRequest::AuthorizationCode { .. }
        ));
    }
}
