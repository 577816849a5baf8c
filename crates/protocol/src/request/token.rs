//! The token request (RFC 6749 §4.1.3, §4.4.2, §6): one variant per supported grant.

use super::Params;
use super::resource::parse_resources;
use crate::error::{Error, invalid_request};
use crate::types::{CodeVerifier, GrantType, ScopeSet, Secret};

/// A parsed token request: one variant per supported `grant_type`, matched once by the endpoint.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=authorization_code` (RFC 6749 §4.1.3).
    AuthorizationCode(AuthorizationCodeRequest),
    /// `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken(RefreshTokenRequest),
    /// `grant_type=client_credentials` (RFC 6749 §4.4.2).
    ClientCredentials(ClientCredentialsRequest),
    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4).
    DeviceCode(DeviceCodeRequest),
}

/// The parameters of the device code grant.
#[derive(Debug)]
pub struct DeviceCodeRequest {
    /// The `device_code` from the device authorization response.
    pub device_code: Secret,
}

/// The parameters of `grant_type=authorization_code`.
#[derive(Debug)]
pub struct AuthorizationCodeRequest {
    /// The code from the authorization response.
    pub code: Secret,
    /// Must equal the authorization request's `redirect_uri` if that carried one.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier.
    pub code_verifier: CodeVerifier,
    /// Resources (RFC 8707) narrowing the authorized ones.
    pub resources: Vec<String>,
}

/// The parameters of `grant_type=refresh_token`.
#[derive(Debug)]
pub struct RefreshTokenRequest {
    /// The refresh token.
    pub refresh_token: Secret,
    /// A subset of the granted scopes, if narrowing.
    pub scope: Option<ScopeSet>,
    /// Resources (RFC 8707) narrowing the authorized ones.
    pub resources: Vec<String>,
}

/// The parameters of `grant_type=client_credentials`.
#[derive(Debug)]
pub struct ClientCredentialsRequest {
    /// The requested scopes; `None` asks for the client's default.
    pub scope: Option<ScopeSet>,
    /// Resources (RFC 8707) the token is for.
    pub resources: Vec<String>,
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
                "grant_type is required: authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code",
            )),
            Some("authorization_code") => Ok(Self::AuthorizationCode(AuthorizationCodeRequest {
                code: Secret::new(params.require("code")?.to_owned()),
                redirect_uri: params.get("redirect_uri")?.map(str::to_owned),
                code_verifier: CodeVerifier::parse(params.get("code_verifier")?)?,
                resources: parse_resources(params)?,
            })),
            Some("refresh_token") => Ok(Self::RefreshToken(RefreshTokenRequest {
                refresh_token: Secret::new(params.require("refresh_token")?.to_owned()),
                scope: scope()?,
                resources: parse_resources(params)?,
            })),
            Some("client_credentials") => Ok(Self::ClientCredentials(ClientCredentialsRequest {
                scope: scope()?,
                resources: parse_resources(params)?,
            })),
            Some("urn:ietf:params:oauth:grant-type:device_code") => Ok(Self::DeviceCode(DeviceCodeRequest {
                device_code: Secret::new(params.require("device_code")?.to_owned()),
            })),
            Some(other) => Err(Error::UnsupportedGrantType(
                format!(
                    "grant_type {} is not supported; use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code",
                    truncate(other)
                )
                .into(),
            )),
        }
    }

    /// The `grant_type` this request uses (also the `grant_type` label of the token metrics).
    #[must_use]
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode(_) => GrantType::AuthorizationCode,
            Self::RefreshToken(_) => GrantType::RefreshToken,
            Self::ClientCredentials(_) => GrantType::ClientCredentials,
            Self::DeviceCode(_) => GrantType::DeviceCode,
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

    #[test]
    fn each_request_names_its_grant_type() {
        let cases = [
            (
                vec![("grant_type", "refresh_token"), ("refresh_token", "r")],
                GrantType::RefreshToken,
            ),
            (vec![("grant_type", "client_credentials")], GrantType::ClientCredentials),
        ];
        for (pairs, grant) in cases {
            let request = TokenRequest::parse(&Params::from_pairs(pairs)).unwrap();
            assert_eq!(request.grant_type(), grant);
        }
        let v = "a".repeat(43);
        let p = Params::from_pairs([
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("code_verifier", &v),
        ]);
        assert_eq!(
            TokenRequest::parse(&p).unwrap().grant_type(),
            GrantType::AuthorizationCode
        );
    }

    #[test]
    fn client_credentials_scope_is_optional_and_parsed() {
        let p = Params::from_pairs([("grant_type", "client_credentials"), ("scope", "b a")]);
        let TokenRequest::ClientCredentials(r) = TokenRequest::parse(&p).unwrap() else {
            panic!("client_credentials")
        };
        assert_eq!(r.scope.unwrap().to_param(), "a b");
        let p = Params::from_pairs([("grant_type", "client_credentials"), ("scope", "bad\\scope")]);
        assert_eq!(TokenRequest::parse(&p).unwrap_err().code(), "invalid_scope");
    }
}
