//! RFC 9068 JWT access tokens: their claims, signing, and reading a presented one back.
//!
//! A JWT access token is self-contained: nothing is written when one is issued. It carries what
//! introspection and userinfo need (its grant, and the claims asked of userinfo); what revokes it
//! is recorded where that happens (its `jti` at the revocation endpoint, its grant when a code is
//! replayed or a refresh family revoked, its user's tokens at a lockout or password change), and
//! [`find_access_token`] consults those records. An opaque token is still a stored row.

use super::IssueError;
use crate::state::AppState;
use gatehouse_protocol::claims::ClaimsRequest;
use gatehouse_protocol::types::{AccessTokenFormat, ClientId, ScopeSet, TokenHash, UnixTime, ordered_millis};
use gatehouse_storage::{AccessTokenRecord, StoreError};
use serde::Serialize;
use serde_json::{Value, json};

/// The claims of an RFC 9068 access token. Fields are in name order, the order the claims had
/// when they were built as a JSON map, so tokens are byte-for-byte what they were.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    aud: Audience<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// The claims the authorization request asked userinfo for (OIDC Core §5.5), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<&'a ClaimsRequest>,
    client_id: &'a str,
    /// RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<serde_json::Value>,
    exp: i64,
    /// The grant (refresh family) of a user's token: revoking the grant revokes the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<&'a str>,
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
        claims: Some(&token.claims).filter(|c| **c != ClaimsRequest::default()),
        client_id,
        cnf: token.dpop_jkt.as_deref().map(|jkt| json!({ "jkt": jkt })),
        exp: token.expires_at.0,
        grant: token.grant_id.as_deref(),
        iat: token.issued_at.0,
        iss: &state.issuer,
        jti,
        scope: token.scope.to_param(),
        sub: token.subject.as_deref().unwrap_or(client_id),
    };
    key.sign(&claims, "at+jwt").map_err(IssueError::Sign)
}

/// The live access token `token` is: a stored opaque one, or a JWT this server signed, unexpired
/// and not revoked. `None` for anything else.
///
/// # Errors
/// Store failures.
pub async fn find_access_token(
    state: &AppState,
    token: &str,
    now: UnixTime,
) -> Result<Option<AccessTokenRecord>, StoreError> {
    if !is_jwt(token) {
        return state.store.find_access_token(&TokenHash::ordered(token), now).await;
    }
    let Some((record, issued_ms)) = read_jwt(state, token) else {
        return Ok(None);
    };
    if record.expires_at <= now || state.store.jwt_access_revoked(&record, issued_ms).await? {
        return Ok(None);
    }
    Ok(Some(record))
}

/// Revokes an access token of `client` (RFC 7009 §2.1): a stored opaque one, or a JWT this server
/// signed for it. Whether there was one to revoke.
///
/// # Errors
/// Store failures.
pub async fn revoke_access_token(
    state: &AppState,
    client: &ClientId,
    token: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    if !is_jwt(token) {
        return state
            .store
            .revoke_access_token(&TokenHash::ordered(token), client, now)
            .await;
    }
    match read_jwt(state, token) {
        Some((record, _)) if record.client_id == *client && record.expires_at > now => {
            state
                .store
                .revoke_jwt_access_token(&record.hash, record.expires_at)
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn is_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The record a JWT access token this server signed stands for, and its issue time in
/// milliseconds (from its `jti`, see `ordered_token`). `None` when the signature does not verify
/// with a key of ours, or it is not an access token of this issuer.
fn read_jwt(state: &AppState, token: &str) -> Option<(AccessTokenRecord, i64)> {
    let (header, claims) = state.keys().verify_with_header(token)?;
    if header["typ"].as_str() != Some("at+jwt") || claims["iss"].as_str() != Some(state.issuer.as_str()) {
        return None;
    }
    record_of(&claims)
}

/// The record the verified claims of one of our access tokens stand for, and its issue time in
/// milliseconds. `None` when a claim is missing or malformed.
fn record_of(claims: &Value) -> Option<(AccessTokenRecord, i64)> {
    let jti = claims["jti"].as_str()?;
    let issued_ms = i64::try_from(ordered_millis(jti)?).ok()?;
    let client_id = ClientId::from_stored(claims["client_id"].as_str()?.to_owned());
    let grant_id = claims["grant"].as_str().map(str::to_owned);
    // A client's own token (`client_credentials`) has the client as `sub` and no grant. A user's
    // token has a grant, except one issued before tokens carried it (those were stored, and a
    // revocation of their grant marked the stored row, which `jwt_access_revoked` reads).
    let sub = claims["sub"].as_str()?;
    let subject = (grant_id.is_some() || sub != client_id.as_str()).then(|| sub.to_owned());
    let audience = match &claims["aud"] {
        Value::String(one) if *one == client_id.as_str() => Vec::new(),
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let record = AccessTokenRecord {
        hash: TokenHash::ordered(jti),
        grant_id,
        subject,
        scope: ScopeSet::parse(claims["scope"].as_str()?).ok()?,
        claims: match claims.get("claims") {
            Some(c) => serde_json::from_value(c.clone()).ok()?,
            None => ClaimsRequest::default(),
        },
        auth_time: claims["auth_time"].as_i64().map(UnixTime),
        issued_at: UnixTime(claims["iat"].as_i64()?),
        expires_at: UnixTime(claims["exp"].as_i64()?),
        audience,
        format: AccessTokenFormat::Jwt,
        dpop_jkt: claims["cnf"]["jkt"].as_str().map(str::to_owned),
        client_id,
    };
    Some((record, issued_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, grant: Option<&str>) -> Value {
        let mut c = json!({
            "iss": "https://issuer.example", "sub": sub, "aud": "svc", "client_id": "svc",
            "scope": "openid api", "jti": crate::random::ordered_token(), "iat": 100, "exp": 160,
        });
        if let Some(g) = grant {
            c["grant"] = json!(g);
        }
        c
    }

    #[test]
    fn a_token_names_its_user_and_grant_and_a_client_token_names_neither() {
        let (user, _) = record_of(&claims("u1", Some("g1"))).unwrap();
        assert_eq!(
            (user.subject.as_deref(), user.grant_id.as_deref()),
            (Some("u1"), Some("g1"))
        );
        let (client, _) = record_of(&claims("svc", None)).unwrap();
        assert_eq!((client.subject, client.grant_id), (None, None));
        // Signed before tokens carried their grant: still the user's, so userinfo answers for them
        // and a revocation of their sessions (by user and time) reaches it.
        let (legacy, issued_ms) = record_of(&claims("u1", None)).unwrap();
        assert_eq!((legacy.subject.as_deref(), legacy.grant_id), (Some("u1"), None));
        assert!(issued_ms > 1_700_000_000_000);
        let mut bad = claims("u1", Some("g1"));
        bad["jti"] = json!("not-ordered");
        assert!(record_of(&bad).is_none(), "a jti without an issue time is not ours");
    }

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
                claims: None,
                client_id: "svc",
                cnf: jkt.map(|j| serde_json::json!({ "jkt": j })),
                exp: 160,
                grant: None,
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
