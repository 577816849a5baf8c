//! Minting tokens: opaque access and refresh tokens (stored by hash) and signed ID tokens.
//! Failures come back as [`IssueError`]; the endpoint maps them to protocol errors.

use crate::random::random_token;
use crate::state::AppState;
use gatehouse_protocol::claims::{ClaimsRequest, at_hash, released_claims};
use gatehouse_protocol::grant::client_credentials::ClientCredentialsGrant;
use gatehouse_protocol::types::{BuiltinScope, ClientKind, GrantType, ScopeSet, TokenHash, UnixTime, b64url};
use gatehouse_storage::{ClientRecord, RefreshTokenRecord, StoreError, UserRecord};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

mod access;
mod access_jwt;
pub use access::{MintedAccess, mint_access};
use access_jwt::jwt_access_token;
pub use access_jwt::{Audience, find_access_token, revoke_access_token};

/// Why a token could not be minted.
#[derive(Debug)]
pub enum IssueError {
    /// Storing the token failed.
    Store(StoreError),
    /// No key signs with the algorithm, or signing failed; the detail is logged, never sent.
    Sign(String),
}

impl From<StoreError> for IssueError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to a DPoP key (RFC 9449 §5).
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Granted scopes.
    pub scope: String,
    /// A refresh token, when `offline_access` was granted to a client allowed to refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenResponse {
    /// The one place a response is assembled: a token living `GATEHOUSE_ACCESS_TOKEN_TTL`, bound
    /// to a DPoP key when `bound`.
    fn new(state: &AppState, access_token: String, scope: &ScopeSet, bound: bool) -> Self {
        Self {
            access_token,
            token_type: if bound { "DPoP" } else { "Bearer" },
            expires_in: state.config.access_token_ttl.as_secs(),
            scope: scope.to_param(),
            refresh_token: None,
            id_token: None,
        }
    }
}

/// The user side of a grant: what ID tokens and user tokens need.
pub struct UserGrant<'a> {
    /// The user.
    pub user: &'a UserRecord,
    /// The authorization grant (the refresh family).
    pub grant_id: &'a str,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// The browser session.
    pub session_id: Option<&'a str>,
    /// The authorization request's nonce (first ID token only).
    pub nonce: Option<&'a str>,
    /// Claims asked for individually.
    pub claims: &'a ClaimsRequest,
    /// Resources (audiences) of the access token (RFC 8707).
    pub audience: &'a [String],
    /// Resources authorized for the whole grant; refresh tokens carry these.
    pub authorized_resources: &'a [String],
    /// Absolute expiry of the refresh-token family.
    pub family_expires_at: UnixTime,
    /// The thumbprint of the DPoP key the tokens are bound to (RFC 9449 §5); a new refresh token
    /// is bound only for a public client.
    pub dpop_jkt: Option<&'a str>,
}

/// Tokens a refresh-token rotation stored: the successor, and the access token when the
/// rotation stored it in the same write.
pub struct Rotated {
    /// The successor's value.
    pub refresh_token: String,
    /// The access token as sent, when stored with the successor.
    pub access_token: Option<String>,
}

/// Issues a complete response for a user grant: access token, refresh token when allowed, ID
/// token when `openid` is in scope. `rotated` holds tokens a rotation already stored; otherwise
/// an access token, and a refresh token when the scope and client allow it, are minted.
///
/// # Errors
/// Store or signing failures.
pub async fn user_tokens(
    state: &AppState,
    client: &ClientRecord,
    scope: &ScopeSet,
    grant: &UserGrant<'_>,
    rotated: Option<Rotated>,
    now: UnixTime,
) -> Result<TokenResponse, IssueError> {
    let (refresh, access) = rotated.map_or((None, None), |r| (Some(r.refresh_token), r.access_token));
    let access_token = match access {
        Some(a) => a,
        None => {
            mint_access(state, client, scope, grant.audience, Some(grant), grant.dpop_jkt, now)
                .issue(state)
                .await?
        }
    };
    let refresh_token = match refresh {
        Some(r) => Some(r),
        None if wants_refresh(client, scope, grant.session_id.is_some()) => {
            let (value, record) = refresh_record(state, client, scope, grant, random_token(), now);
            state.store.put_refresh_token(&record).await?;
            Some(value)
        }
        None => None,
    };
    let id_token = if scope.has(BuiltinScope::OpenId) {
        Some(id_token(state, client, grant, &access_token, now)?)
    } else {
        None
    };
    Ok(TokenResponse {
        refresh_token,
        id_token,
        ..TokenResponse::new(state, access_token, scope, grant.dpop_jkt.is_some())
    })
}

/// Issues the response for a client-credentials grant: an access token only (RFC 6749 §4.4.3).
///
/// # Errors
/// Store or signing failures.
pub async fn client_tokens(
    state: &AppState,
    client: &ClientRecord,
    grant: &ClientCredentialsGrant,
    dpop_jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, IssueError> {
    let access_token = mint_access(state, client, &grant.scope, &grant.audience, None, dpop_jkt, now)
        .issue(state)
        .await?;
    Ok(TokenResponse::new(
        state,
        access_token,
        &grant.scope,
        dpop_jkt.is_some(),
    ))
}

/// Refresh tokens go only to clients allowed the grant: with `offline_access`, one that outlives
/// the user's presence (OIDC Core §11); without it, for a grant made in a browser session, one
/// bound to that session, which ends when the user signs out (OIDC Core §11 leaves other uses of
/// refresh tokens to the server; this is how Keycloak's online sessions behave).
#[must_use]
pub fn wants_refresh(client: &ClientRecord, scope: &ScopeSet, in_session: bool) -> bool {
    client.grant_types.contains(&GrantType::RefreshToken) && (scope.has(BuiltinScope::OfflineAccess) || in_session)
}

/// When a new refresh family ends at the latest: `GATEHOUSE_REFRESH_FAMILY_MAX_AGE` from now, and
/// without `offline_access` no later than the browser session it is bound to.
#[must_use]
pub fn family_expiry(state: &AppState, scope: &ScopeSet, auth_time: UnixTime, now: UnixTime) -> UnixTime {
    let max = now.plus(state.config.refresh_family_max_age.as_secs());
    if scope.has(BuiltinScope::OfflineAccess) {
        max
    } else {
        max.min(auth_time.plus(state.config.session_ttl.as_secs()))
    }
}

/// The successor of a presented refresh token. With a reuse grace period it is derived from the
/// presented token with a server secret (HMAC-SHA256), so a retry within the grace can be answered
/// with the very same successor while only hashes are stored. Without a grace (the default) it is
/// random: a derived chain would let anyone holding an old token and the secret compute today's
/// live token, and determinism buys nothing there.
#[must_use]
pub fn successor_value(state: &AppState, presented: &str) -> String {
    derive_successor(&state.refresh_key, state.config.refresh_reuse_grace_seconds, presented)
}

/// A refresh token's successor, minted but not stored: rotation stores it in place of the
/// presented token, which lends it everything but these.
pub struct Successor {
    /// The token value, sent to the client once.
    pub value: String,
    /// Its hash, the storage key.
    pub hash: TokenHash,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Idle expiry (`GATEHOUSE_REFRESH_TOKEN_TTL` from now).
    pub expires_at: UnixTime,
}

/// The successor of `presented` as of `now` ([`successor_value`]).
#[must_use]
pub fn successor(state: &AppState, presented: &str, now: UnixTime) -> Successor {
    let value = successor_value(state, presented);
    Successor {
        hash: TokenHash::of(&value),
        value,
        issued_at: now,
        expires_at: now.plus(state.config.refresh_token_ttl.as_secs()),
    }
}

fn derive_successor(key: &aws_lc_rs::hmac::Key, grace_seconds: u64, presented: &str) -> String {
    if grace_seconds == 0 {
        return crate::random::random_token();
    }
    b64url(aws_lc_rs::hmac::sign(key, presented.as_bytes()).as_ref())
}

/// A refresh token record for `value` (not yet stored).
#[must_use]
pub fn refresh_record(
    state: &AppState,
    client: &ClientRecord,
    scope: &ScopeSet,
    grant: &UserGrant<'_>,
    value: String,
    now: UnixTime,
) -> (String, RefreshTokenRecord) {
    let record = RefreshTokenRecord {
        hash: TokenHash::of(&value),
        family_id: grant.grant_id.to_owned(),
        client_id: client.id.clone(),
        subject: grant.user.id.clone(),
        scope: scope.clone(),
        claims: grant.claims.clone(),
        auth_time: grant.auth_time,
        session_id: grant.session_id.map(str::to_owned),
        issued_at: now,
        expires_at: now.plus(state.config.refresh_token_ttl.as_secs()),
        family_expires_at: grant.family_expires_at,
        audience: grant.authorized_resources.to_vec(),
        // RFC 9449 §5: a public client's refresh token is bound to its key; a confidential
        // client's is bound by its authentication already.
        dpop_jkt: grant
            .dpop_jkt
            .filter(|_| client.auth_method.kind() == ClientKind::Public)
            .map(str::to_owned),
    };
    (value, record)
}

/// Signs an ID token with the client's algorithm (OIDC Core §2, §3.1.3.6).
///
/// # Errors
/// `IssueError::Sign` when no key exists for the algorithm or signing fails.
pub fn id_token(
    state: &AppState,
    client: &ClientRecord,
    grant: &UserGrant<'_>,
    access_token: &str,
    now: UnixTime,
) -> Result<String, IssueError> {
    let ring = state.keys();
    let key = ring
        .signer(client.id_token_alg)
        .ok_or_else(|| IssueError::Sign(format!("no signing key for {}", client.id_token_alg)))?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(state.issuer));
    claims.insert("sub".into(), json!(grant.user.id));
    claims.insert("aud".into(), json!(client.id.as_str()));
    claims.insert("exp".into(), json!(now.plus(state.config.id_token_ttl.as_secs()).0));
    claims.insert("iat".into(), json!(now.0));
    claims.insert("auth_time".into(), json!(grant.auth_time.0));
    if let Some(n) = grant.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    claims.insert("at_hash".into(), json!(at_hash(access_token, client.id_token_alg)));
    if let Some(sid) = grant.session_id {
        claims.insert("sid".into(), json!(sid));
    }
    // Scope claims go to userinfo (OIDC Core §5.4); only individually requested ones go here.
    let names: BTreeSet<&str> = grant.claims.id_token.iter().map(String::as_str).collect();
    claims.extend(user_claims(grant.user, &names));
    key.sign(&claims, "JWT").map_err(IssueError::Sign)
}

/// The user claims in `names` that the user has.
#[must_use]
pub fn user_claims(user: &UserRecord, names: &BTreeSet<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for name in names {
        let value = match *name {
            "name" => user.name.as_ref().map(|n| json!(n)),
            "preferred_username" => Some(json!(user.username)),
            "updated_at" => Some(json!(user.updated_at.0)),
            "email" => user.email.as_ref().map(|e| json!(e)),
            "email_verified" => user.email.as_ref().map(|_| json!(user.email_verified)),
            _ => None,
        };
        if let Some(v) = value {
            out.insert((*name).to_owned(), v);
        }
    }
    out
}

/// The user claims released for a scope and a claims request.
#[must_use]
pub fn released(user: &UserRecord, scope: &ScopeSet, extra: &BTreeSet<String>) -> Map<String, Value> {
    let names = released_claims(scope, extra);
    user_claims(user, &names)
}

#[cfg(test)]
mod tests {
    #[test]
    fn successors_are_random_without_a_grace_and_derived_with_one() {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"server secret");
        assert_ne!(
            super::derive_successor(&key, 0, "r0"),
            super::derive_successor(&key, 0, "r0")
        );
        assert_eq!(
            super::derive_successor(&key, 30, "r0"),
            super::derive_successor(&key, 30, "r0")
        );
        assert_ne!(
            super::derive_successor(&key, 30, "r0"),
            super::derive_successor(&key, 30, "r1")
        );
    }
}
