//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).

use crate::claims::ClaimsRequest;
use crate::error::Error;
use crate::request::authorize::ResolvedRedirect;
use crate::types::{ClientId, CodeChallenge, CodeVerifier, ScopeSet, UnixTime};
use serde::{Deserialize, Serialize};

/// What an authorization code stands for. Stored under the code's hash until redeemed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The authorization grant this code starts; every token it leads to carries this id so a
    /// replayed code can revoke them all.
    pub grant_id: String,
    /// The client the code was issued to.
    pub client_id: ClientId,
    /// The user (`sub`).
    pub subject: String,
    /// The redirect URI of the authorization request.
    pub redirect: ResolvedRedirect,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// The request's nonce.
    pub nonce: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// When the user last authenticated.
    pub auth_time: UnixTime,
    /// The browser session (`sid`).
    pub session_id: Option<String>,
    /// Claims asked for individually.
    pub claims: ClaimsRequest,
    /// When the code stops being redeemable.
    pub expires_at: UnixTime,
    /// Resources authorized (RFC 8707).
    #[serde(default)]
    pub resources: Vec<String>,
    /// The thumbprint of the DPoP key the code is bound to (RFC 9449 §10): only a proof by that key
    /// redeems it.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// Checks a token request against the code's grant. Call before consuming the code, so that a
/// request that fails here leaves the code to its rightful client.
///
/// # Errors
/// `invalid_grant` when the code is expired, belongs to another client, was issued for another
/// `redirect_uri`, or the PKCE verifier does not match.
pub fn exchange(
    grant: &CodeGrant,
    client_id: &ClientId,
    redirect_uri: Option<&str>,
    verifier: &CodeVerifier,
    now: UnixTime,
) -> Result<(), Error> {
    if &grant.client_id != client_id {
        return Err(Error::InvalidGrant("the code was issued to another client".into()));
    }
    if now >= grant.expires_at {
        return Err(Error::InvalidGrant(
            "the code has expired; codes live 60 seconds by default, so exchange it right after the redirect".into(),
        ));
    }
    // RFC 6749 §4.1.3: if the authorization request carried redirect_uri, it must be repeated,
    // identical.
    match (grant.redirect.supplied, redirect_uri) {
        (true, None) => {
            return Err(Error::InvalidGrant(
                "redirect_uri is required because the authorization request included it".into(),
            ));
        }
        (_, Some(sent)) if sent != grant.redirect.uri.as_str() => {
            return Err(Error::InvalidGrant(
                "redirect_uri differs from the one in the authorization request".into(),
            ));
        }
        _ => {}
    }
    grant.code_challenge.verify(verifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RedirectUri;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://app.example.com/cb";

    fn grant() -> CodeGrant {
        CodeGrant {
            grant_id: "g1".into(),
            client_id: ClientId::parse("app").unwrap(),
            subject: "u1".into(),
            redirect: ResolvedRedirect {
                uri: RedirectUri::parse(CB).unwrap(),
                supplied: true,
            },
            scope: ScopeSet::from_static(&["openid"]),
            nonce: None,
            code_challenge: CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap(),
            auth_time: UnixTime(100),
            session_id: None,
            claims: ClaimsRequest::default(),
            expires_at: UnixTime(160),
            resources: vec![],
            dpop_jkt: None,
        }
    }

    fn v(s: &str) -> CodeVerifier {
        CodeVerifier::parse(Some(s)).unwrap()
    }

    #[test]
    fn matching_request_is_accepted() {
        exchange(
            &grant(),
            &ClientId::parse("app").unwrap(),
            Some(CB),
            &v(VERIFIER),
            UnixTime(120),
        )
        .unwrap();
    }

    #[test]
    fn every_mismatch_is_invalid_grant() {
        let app = ClientId::parse("app").unwrap();
        let cases = [
            exchange(
                &grant(),
                &ClientId::parse("other").unwrap(),
                Some(CB),
                &v(VERIFIER),
                UnixTime(120),
            ),
            exchange(&grant(), &app, Some(CB), &v(VERIFIER), UnixTime(160)),
            exchange(&grant(), &app, None, &v(VERIFIER), UnixTime(120)),
            exchange(
                &grant(),
                &app,
                Some("https://app.example.com/cb/"),
                &v(VERIFIER),
                UnixTime(120),
            ),
            exchange(&grant(), &app, Some(CB), &v(&"x".repeat(43)), UnixTime(120)),
        ];
        for (i, c) in cases.into_iter().enumerate() {
            assert_eq!(c.unwrap_err().code(), "invalid_grant", "case {i}");
        }
    }
}
