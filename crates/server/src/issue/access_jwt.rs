//! RFC 9068 JWT access tokens: their claims, signing, and finding the stored record of a presented
//! one.

use super::IssueError;
use crate::state::AppState;
use gatehouse_protocol::types::TokenHash;
use gatehouse_storage::AccessTokenRecord;
use serde::Serialize;
use serde_json::json;

/// The claims of an RFC 9068 access token. Fields are in name order, the order the claims had
/// when they were built as a JSON map, so tokens are byte-for-byte what they were.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    aud: Audience<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    client_id: &'a str,
    /// RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<serde_json::Value>,
    exp: i64,
    iat: i64,
    iss: &'a str,
    jti: &'a str,
    scope: String,
    sub: &'a str,
}

/// An `aud` claim: a string for one audience, an array for several (RFC 7519 §4.1.3).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Audience<'a> {
    /// One audience.
    One(&'a str),
    /// Several.
    Many(&'a [String]),
}

impl<'a> Audience<'a> {
    /// The resources a token is for, or `client_id` itself when none was named.
    #[must_use]
    pub fn of(resources: &'a [String], client_id: &'a str) -> Self {
        match resources {
            [] => Self::One(client_id),
            [one] => Self::One(one),
            many => Self::Many(many),
        }
    }
}

/// RFC 9068 §2: `typ: at+jwt`; `aud` is the resources, or the client itself when none was named;
/// `sub` is the user, or the client for `client_credentials`.
pub(super) fn jwt_access_token(state: &AppState, token: &AccessTokenRecord, jti: &str) -> Result<String, IssueError> {
    let alg = state.config.jwt_access_token_alg;
    let ring = state.keys();
    let key = ring
        .signer(alg)
        .ok_or_else(|| IssueError::Sign(format!("no signing key for {alg}")))?;
    let client_id = token.client_id.as_str();
    let claims = AccessTokenClaims {
        aud: Audience::of(&token.audience, client_id),
        auth_time: token.auth_time.map(|t| t.0),
        client_id,
        cnf: token.dpop_jkt.as_deref().map(|jkt| json!({ "jkt": jkt })),
        exp: token.expires_at.0,
        iat: token.issued_at.0,
        iss: &state.issuer,
        jti,
        scope: token.scope.to_param(),
        sub: token.subject.as_deref().unwrap_or(client_id),
    };
    key.sign(&claims, "at+jwt").map_err(IssueError::Sign)
}

/// The storage key of a presented access token: the hash of an opaque value, or of the `jti` of a
/// JWT we signed. `None` for a JWT that does not verify or is not an access token.
#[must_use]
pub fn access_token_hash(state: &AppState, token: &str) -> Option<TokenHash> {
    if token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Some(TokenHash::ordered(token));
    }
    let (header, claims) = state.keys().verify_with_header(token)?;
    if header["typ"].as_str() != Some("at+jwt") {
        return None;
    }
    claims["jti"].as_str().map(TokenHash::ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_claims_serialise_as_the_json_map_did() {
        let resources = ["https://a.example".to_owned(), "https://b.example".to_owned()];
        for (audience, auth_time, sub, jkt) in [
            (&resources[..0], None, "svc", Some("thumb")),
            (&resources[..1], Some(7), "u1", None),
            (&resources[..], Some(7), "u1", None),
        ] {
            let claims = AccessTokenClaims {
                aud: Audience::of(audience, "svc"),
                auth_time,
                client_id: "svc",
                cnf: jkt.map(|j| serde_json::json!({ "jkt": j })),
                exp: 160,
                iat: 100,
                iss: "https://issuer.example",
                jti: "j1",
                scope: "api openid".into(),
                sub,
            };
            let mut map = serde_json::Map::new();
            map.insert("iss".into(), serde_json::json!("https://issuer.example"));
            map.insert("sub".into(), serde_json::json!(sub));
            let aud = match audience {
                [] => serde_json::json!("svc"),
                [one] => serde_json::json!(one),
                many => serde_json::json!(many),
            };
            map.insert("aud".into(), aud);
            map.insert("client_id".into(), serde_json::json!("svc"));
            map.insert("scope".into(), serde_json::json!("api openid"));
            map.insert("jti".into(), serde_json::json!("j1"));
            map.insert("iat".into(), serde_json::json!(100));
            map.insert("exp".into(), serde_json::json!(160));
            if let Some(t) = auth_time {
                map.insert("auth_time".into(), serde_json::json!(t));
            }
            if let Some(j) = jkt {
                map.insert("cnf".into(), serde_json::json!({ "jkt": j }));
            }
            assert_eq!(
                serde_json::to_string(&claims).unwrap(),
                serde_json::to_string(&map).unwrap()
            );
        }
    }
}
