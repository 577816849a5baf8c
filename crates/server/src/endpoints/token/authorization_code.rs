//! `grant_type=authorization_code` (RFC 6749 §4.1.3): check the code against the request while it
//! is still redeemable, consume it atomically, issue the user's tokens.

use super::live_user;
use crate::client_auth::registered;
use crate::http::error::store_error;
use crate::issue::{self, TokenResponse, UserGrant};
use crate::metrics::METRICS;
use crate::state::AppState;
use gatehouse_protocol::Error;
use gatehouse_protocol::grant::authorization_code;
use gatehouse_protocol::request::resource;
use gatehouse_protocol::request::token::AuthorizationCodeRequest;
use gatehouse_protocol::types::{GrantType, TokenHash, UnixTime};
use gatehouse_storage::{ClientRecord, Taken};

/// Exchanges a code for tokens.
///
/// # Errors
/// `unauthorized_client`, `invalid_grant` (unknown, expired, replayed or mismatched code; locked or
/// deleted user), `invalid_target`, and store or signing failures.
pub(super) async fn exchange(
    state: &AppState,
    client: &ClientRecord,
    request: AuthorizationCodeRequest,
    dpop_jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    registered(client).verify_grant(GrantType::AuthorizationCode)?;
    let hash = TokenHash::of(request.code.expose());
    let (grant, consumed) = state
        .store
        .find_code(&hash, now)
        .await
        .map_err(store_error)?
        .ok_or_else(unknown)?;
    if consumed {
        return Err(replayed(state, &grant.grant_id, now).await);
    }
    // Checked before consuming, so a request that fails here leaves the code to its client.
    let redirect_uri = request.redirect_uri.as_deref();
    authorization_code::exchange(&grant, &client.id, redirect_uri, &request.code_verifier, now)?;
    // RFC 9449 §10: a code bound with dpop_jkt (at /oauth/authorize or by a proof at /oauth/par) is
    // redeemed only with a proof by that key.
    crate::dpop::matches_binding(grant.dpop_jkt.as_deref(), dpop_jkt)
        .map_err(|why| Error::InvalidGrant(format!("the code {why} (dpop_jkt)").into()))?;
    let audience = resource::narrow(&grant.resources, request.resources)?;
    let grant = match state.store.take_code(&hash, now).await.map_err(store_error)? {
        Taken::Fresh(g) => g,
        Taken::Replayed { grant_id } => return Err(replayed(state, &grant_id, now).await),
        Taken::NotFound => return Err(unknown()),
    };
    let user = live_user(state, &grant.subject).await?;
    let user_grant = UserGrant {
        user: &user,
        grant_id: &grant.grant_id,
        auth_time: grant.auth_time,
        session_id: grant.session_id.as_deref(),
        nonce: grant.nonce.as_deref(),
        claims: &grant.claims,
        audience: &audience,
        authorized_resources: &grant.resources,
        family_expires_at: issue::family_expiry(state, &grant.scope, grant.auth_time, now),
        dpop_jkt,
    };
    let response = issue::user_tokens(state, client, &grant.scope, &user_grant, None, now).await?;
    tracing::info!(target: "gatehouse::audit", event = "token.issued", grant_type = "authorization_code", client_id = %client.id, sub = %user.id);
    Ok(response)
}

fn unknown() -> Error {
    Error::InvalidGrant("the code is unknown or expired; codes are single-use and live 60 seconds by default".into())
}

/// RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
async fn replayed(state: &AppState, grant_id: &str, now: UnixTime) -> Error {
    match state.store.revoke_grant(grant_id, now).await {
        Ok(n) => {
            METRICS.family_revocations.with_label_values(&["code_replay"]).inc();
            tracing::warn!(target: "gatehouse::audit", event = "code.replayed", revoked = n);
            Error::InvalidGrant("the code was already used; the tokens issued with it are now revoked".into())
        }
        Err(e) => store_error(e),
    }
}
