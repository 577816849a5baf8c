//! Minting tokens: opaque access and refresh tokens (stored by hash) and signed ID tokens.

use crate::http::error::store_error;
use crate::state::{AppState, random_token};
use gatehouse_protocol::Error;
use gatehouse_protocol::claims::{ClaimsRequest, at_hash, released_claims};
use gatehouse_protocol::types::{ScopeSet, TokenHash, UnixTime};
use gatehouse_storage::{AccessTokenRecord, ClientRecord, RefreshTokenRecord, UserRecord};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
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
}

/// Issues a complete response for a user grant: access token, refresh token when allowed, ID
/// token when `openid` is in scope. `refresh` is a refresh token already stored by the caller
/// (rotation); otherwise a new one is minted when the scope and client allow it.
///
/// # Errors
/// Store or signing failures (`server_error`).
pub async fn user_tokens(
    state: &AppState,
    client: &ClientRecord,
    scope: &ScopeSet,
    grant: &UserGrant<'_>,
    refresh: Option<String>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    let access_token = access_token(state, client, scope, Some(grant), now).await?;
    let refresh_token = match refresh {
        Some(r) => Some(r),
        None if wants_refresh(client, scope) => {
            let (value, record) = refresh_record(state, client, scope, grant, now);
            state.store.put_refresh_token(&record).await.map_err(store_error)?;
            Some(value)
        }
        None => None,
    };
    let id_token = if scope.contains("openid") {
        Some(id_token(state, client, grant, &access_token, now)?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.config.access_token_ttl.as_secs(),
        scope: scope.to_param(),
        refresh_token,
        id_token,
    })
}

/// Refresh tokens go only to clients allowed the grant, for grants with `offline_access`
/// (OIDC Core §11).
#[must_use]
pub fn wants_refresh(client: &ClientRecord, scope: &ScopeSet) -> bool {
    scope.contains("offline_access")
        && client
            .grant_types
            .contains(&gatehouse_protocol::types::GrantType::RefreshToken)
}

/// A new refresh token value and its record (not yet stored).
#[must_use]
pub fn refresh_record(
    state: &AppState,
    client: &ClientRecord,
    scope: &ScopeSet,
    grant: &UserGrant<'_>,
    now: UnixTime,
) -> (String, RefreshTokenRecord) {
    let value = random_token();
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
    };
    (value, record)
}

/// Mints and stores an opaque access token (256 bits).
///
/// # Errors
/// Store failures.
pub async fn access_token(
    state: &AppState,
    client: &ClientRecord,
    scope: &ScopeSet,
    grant: Option<&UserGrant<'_>>,
    now: UnixTime,
) -> Result<String, Error> {
    let value = random_token();
    let record = AccessTokenRecord {
        hash: TokenHash::of(&value),
        client_id: client.id.clone(),
        grant_id: grant.map(|g| g.grant_id.to_owned()),
        subject: grant.map(|g| g.user.id.clone()),
        scope: scope.clone(),
        claims: grant.map(|g| g.claims.clone()).unwrap_or_default(),
        auth_time: grant.map(|g| g.auth_time),
        issued_at: now,
        expires_at: now.plus(state.config.access_token_ttl.as_secs()),
    };
    state.store.put_access_token(&record).await.map_err(store_error)?;
    Ok(value)
}

/// Signs an ID token with the client's algorithm (OIDC Core §2, §3.1.3.6).
///
/// # Errors
/// `server_error` when no key exists for the algorithm or signing fails.
pub fn id_token(
    state: &AppState,
    client: &ClientRecord,
    grant: &UserGrant<'_>,
    access_token: &str,
    now: UnixTime,
) -> Result<String, Error> {
    let key = state
        .keys
        .signer(client.id_token_alg)
        .ok_or_else(|| Error::Server(format!("no signing key for {}", client.id_token_alg)))?;
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
    key.sign(&claims, "JWT").map_err(Error::Server)
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
