//! `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).
//!
//! A presented token is either live, and is rotated into a successor, or not live: then the
//! rotation contract tells a retry within the grace period (answered again with the same,
//! derived successor) from a replay (which revokes the family). Both continue through the same
//! steps: narrow scope and audience, check the user, issue.

use super::live_user;
use crate::client_auth::registered;
use crate::http::error::store_error;
use crate::issue::{self, Successor, TokenResponse, UserGrant};
use crate::metrics::METRICS;
use crate::state::AppState;
use gatehouse_protocol::Error;
use gatehouse_protocol::grant::refresh_token;
use gatehouse_protocol::request::token::RefreshTokenRequest;
use gatehouse_protocol::types::{ClientKind, GrantType, ScopeSet, TokenHash, UnixTime};
use gatehouse_storage::{AccessTokenRecord, ClientRecord, RefreshTokenRecord, Rotation, UserRecord};

/// How the presented token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Live: it is rotated once the request checks out.
    Live,
    /// Rotated within the grace period by an earlier request: the record is its successor.
    Retried,
}

/// Refreshes: the successor refresh token and a new access token (and ID token with `openid`).
///
/// # Errors
/// `unauthorized_client`, `invalid_grant` (unknown, expired, revoked or reused token, another
/// client's token, locked or deleted user), `invalid_scope`, `invalid_target`, and store or
/// signing failures.
pub(super) async fn refresh(
    state: &AppState,
    client: &ClientRecord,
    request: RefreshTokenRequest,
    dpop_jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    let registered = registered(client);
    registered.verify_grant(GrantType::RefreshToken)?;
    let presented = request.refresh_token.expose();
    let hash = TokenHash::of(presented);
    let successor = issue::successor(state, presented, now);
    let (token, standing) = match state.store.find_refresh_token(&hash, now).await.map_err(store_error)? {
        Some(current) => {
            refresh_token::verify_owner(&current.client_id, &registered)?;
            (current, Standing::Live)
        }
        None => (retried(state, client, &hash, &successor, now).await?, Standing::Retried),
    };
    let refresh = refresh_token::refresh(&token.scope, &token.audience, &registered, &request)?;
    // RFC 9449 §5: a public client's bound refresh token is used only with a proof by its key.
    crate::dpop::matches_binding(token.dpop_jkt.as_deref(), dpop_jkt).map_err(|why| {
        METRICS.dpop_refused.with_label_values(&["binding"]).inc();
        Error::InvalidGrant(format!("the refresh token {why}").into())
    })?;
    let user = live_user(state, &token.subject).await?;
    let grant = user_grant(&token, &user, &refresh.audience, dpop_jkt);
    let access_token = match standing {
        Standing::Live => rotate_live(state, client, &hash, &successor, &refresh.scope, &grant, now).await?,
        Standing::Retried => {
            tracing::info!(target: "gatehouse::audit", event = "refresh.retried_in_grace", client_id = %client.id, family = %token.family_id);
            None
        }
    };
    let rotated = issue::Rotated {
        refresh_token: successor.value,
        access_token,
    };
    let response = issue::user_tokens(state, client, &refresh.scope, &grant, Some(rotated), now).await?;
    if standing == Standing::Live {
        tracing::info!(target: "gatehouse::audit", event = "token.issued", grant_type = "refresh_token", client_id = %client.id, sub = %user.id);
    }
    Ok(response)
}

/// A presented token that is not live, put to the rotation contract: a retry within the grace
/// period by the same client (its successor comes back), a replay (which revokes the family), or
/// simply unknown.
async fn retried(
    state: &AppState,
    client: &ClientRecord,
    hash: &TokenHash,
    successor: &Successor,
    now: UnixTime,
) -> Result<RefreshTokenRecord, Error> {
    match rotate(state, hash, successor, None, None, now).await? {
        Rotation::Retried(s) if s.client_id == client.id => Ok(*s),
        Rotation::Reused { family_id, .. } => Err(reused(&family_id)),
        _ => Err(unknown()),
    }
}

/// Rotates a live token, storing the access token issued with the successor in the same write
/// (one commit for both). Returns that access token as sent; `None` when a concurrent retry
/// inside the grace period rotated the token first (the response then gets a token of its own).
async fn rotate_live(
    state: &AppState,
    client: &ClientRecord,
    hash: &TokenHash,
    successor: &Successor,
    scope: &ScopeSet,
    grant: &UserGrant<'_>,
    now: UnixTime,
) -> Result<Option<String>, Error> {
    // RFC 9449 §5: a public client that proves a key binds its refresh tokens to it, also when the
    // token it presents was issued before it used DPoP.
    let bind_to = grant
        .dpop_jkt
        .filter(|_| client.auth_method.kind() == ClientKind::Public);
    let access = issue::mint_access(state, client, scope, grant.audience, Some(grant), grant.dpop_jkt, now);
    let stored = access.to_store().cloned();
    if expect_rotated(rotate(state, hash, successor, bind_to, stored, now).await?)? {
        Ok(Some(access.value(state)?))
    } else {
        Ok(None)
    }
}

/// The outcome of rotating a live token: whether this rotation stored the successor.
fn expect_rotated(rotation: Rotation) -> Result<bool, Error> {
    match rotation {
        Rotation::Rotated(_) => Ok(true),
        Rotation::Retried(_) => Ok(false), // a concurrent retry inside the grace period: same successor
        Rotation::Reused { family_id, .. } => Err(reused(&family_id)),
        Rotation::NotFound => Err(unknown()),
    }
}

/// The one call to the rotation contract: the store gives the successor everything of the
/// presented token but its hash and lifetimes, and stores `access_token` with it. When the token
/// was not live, the store stores neither: it only reports a retry or a replay.
async fn rotate(
    state: &AppState,
    hash: &TokenHash,
    successor: &Successor,
    bind_to: Option<&str>,
    access_token: Option<AccessTokenRecord>,
    now: UnixTime,
) -> Result<Rotation, Error> {
    let next = gatehouse_storage::Successor {
        hash: successor.hash,
        expires_at: successor.expires_at,
        bind_to: bind_to
            .and_then(gatehouse_protocol::types::b64url_decode)
            .and_then(|b| TokenHash::from_bytes(&b)),
        access_token,
    };
    let grace = state.config.refresh_reuse_grace_seconds;
    state
        .store
        .rotate_refresh_token(hash, next, now, grace)
        .await
        .map_err(store_error)
}

fn user_grant<'a>(
    token: &'a RefreshTokenRecord,
    user: &'a UserRecord,
    audience: &'a [String],
    dpop_jkt: Option<&'a str>,
) -> UserGrant<'a> {
    UserGrant {
        user,
        grant_id: &token.family_id,
        auth_time: token.auth_time,
        session_id: token.session_id.as_deref(),
        nonce: None,
        claims: &token.claims,
        audience,
        authorized_resources: &token.audience,
        family_expires_at: token.family_expires_at,
        dpop_jkt,
    }
}

fn unknown() -> Error {
    Error::InvalidGrant("the refresh token is unknown, expired or revoked".into())
}

fn reused(family_id: &str) -> Error {
    METRICS.family_revocations.with_label_values(&["reuse"]).inc();
    tracing::warn!(target: "gatehouse::audit", event = "refresh.reuse_detected", family = %family_id);
    Error::InvalidGrant("the refresh token was already used; as a precaution every token of this grant is now revoked (RFC 9700 section 4.14.2)".into())
}
