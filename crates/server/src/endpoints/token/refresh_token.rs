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
use gatehouse_protocol::claims::ClaimsRequest;
use gatehouse_protocol::grant::refresh_token;
use gatehouse_protocol::request::token::RefreshTokenRequest;
use gatehouse_protocol::types::{ClientId, GrantType, ScopeSet, TokenHash, UnixTime};
use gatehouse_storage::{ClientRecord, RefreshTokenRecord, Rotation, UserRecord};

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
    let user = live_user(state, &token.subject).await?;
    let grant = user_grant(&token, &user, &refresh.audience);
    match standing {
        Standing::Live => expect_rotated(rotate(state, &hash, Some(&token), &successor, now).await?)?,
        Standing::Retried => {
            tracing::info!(target: "gatehouse::audit", event = "refresh.retried_in_grace", client_id = %client.id, family = %token.family_id);
        }
    }
    let value = Some(successor.value);
    let response = issue::user_tokens(state, client, &refresh.scope, &grant, value, now).await?;
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
    match rotate(state, hash, None, successor, now).await? {
        Rotation::Retried(s) if s.client_id == client.id => Ok(*s),
        Rotation::Reused { family_id, .. } => Err(reused(&family_id)),
        _ => Err(unknown()),
    }
}

/// The outcome of rotating a live token.
fn expect_rotated(rotation: Rotation) -> Result<(), Error> {
    match rotation {
        Rotation::Rotated(_) => Ok(()),
        Rotation::Retried(_) => Ok(()), // a concurrent retry inside the grace period: same successor
        Rotation::Reused { family_id, .. } => Err(reused(&family_id)),
        Rotation::NotFound => Err(unknown()),
    }
}

/// The one call to the rotation contract. `current` is the presented token when it was live; the
/// successor keeps everything of it but the hash and lifetimes. When it was not live, the store
/// never stores the successor: it only reports a retry or a replay.
async fn rotate(
    state: &AppState,
    hash: &TokenHash,
    current: Option<&RefreshTokenRecord>,
    successor: &Successor,
    now: UnixTime,
) -> Result<Rotation, Error> {
    let record = successor_record(current, successor);
    let grace = state.config.refresh_reuse_grace_seconds;
    state
        .store
        .rotate_refresh_token(hash, &record, now, grace)
        .await
        .map_err(store_error)
}

/// Today's `Tokens::rotate_refresh_token` takes the successor as a whole record: the live token's
/// with the successor's hash and lifetimes, or, for a token that is not live, one the store never
/// stores (it only reads the presented token's row). MERGE: once the store takes just
/// `Successor { hash, issued_at, expires_at }` and copies the rest from the current row, this
/// function and `rotate`'s `current` go, and `rotate` passes the successor straight through.
fn successor_record(current: Option<&RefreshTokenRecord>, successor: &Successor) -> RefreshTokenRecord {
    let base = match current {
        Some(c) => c.clone(),
        None => RefreshTokenRecord {
            hash: successor.hash,
            family_id: String::new(),
            client_id: ClientId::from_stored(String::new()),
            subject: String::new(),
            scope: ScopeSet::default(),
            claims: ClaimsRequest::default(),
            auth_time: successor.issued_at,
            session_id: None,
            issued_at: successor.issued_at,
            expires_at: successor.expires_at,
            family_expires_at: successor.issued_at,
            audience: Vec::new(),
        },
    };
    RefreshTokenRecord {
        hash: successor.hash,
        issued_at: successor.issued_at,
        expires_at: successor.expires_at,
        ..base
    }
}

fn user_grant<'a>(token: &'a RefreshTokenRecord, user: &'a UserRecord, audience: &'a [String]) -> UserGrant<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_tokens_successor_keeps_all_but_its_hash_and_lifetimes() {
        let current = RefreshTokenRecord {
            hash: TokenHash::of("r0"),
            family_id: "g1".into(),
            client_id: ClientId::parse("app").unwrap(),
            subject: "u1".into(),
            scope: ScopeSet::from_static(&["openid", "offline_access"]),
            claims: ClaimsRequest::default(),
            auth_time: UnixTime(10),
            session_id: Some("s1".into()),
            issued_at: UnixTime(20),
            expires_at: UnixTime(30),
            family_expires_at: UnixTime(1_000),
            audience: vec!["https://api.example".into()],
        };
        let successor = Successor {
            value: "r1".into(),
            hash: TokenHash::of("r1"),
            issued_at: UnixTime(25),
            expires_at: UnixTime(125),
        };
        let next = successor_record(Some(&current), &successor);
        assert_eq!(
            next,
            RefreshTokenRecord {
                hash: TokenHash::of("r1"),
                issued_at: UnixTime(25),
                expires_at: UnixTime(125),
                ..current
            }
        );
    }
}
