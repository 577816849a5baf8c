//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4, §3.5): the device
//! polls. One store statement records the poll, enforces the interval (`slow_down`, remembered
//! across instances) and redeems an approved authorization exactly once; the approving user is
//! checked again at issuance.

use crate::client_auth::registered;
use crate::http::error::store_error;
use crate::issue::{self, TokenResponse, UserGrant};
use crate::metrics::METRICS;
use crate::random::random_b64;
use crate::state::AppState;
use gatehouse_protocol::Error;
use gatehouse_protocol::claims::ClaimsRequest;
use gatehouse_protocol::grant::device_code::poll_error;
use gatehouse_protocol::request::token::DeviceCodeRequest;
use gatehouse_protocol::types::{GrantType, TokenHash, UnixTime};
use gatehouse_storage::{ClientRecord, UserRecord};

/// The user who approved, as the store has them now: the account may have been locked or deleted
/// since it approved (keycloak#52783), and then the device gets `access_denied`.
async fn approver(state: &AppState, subject: Option<&str>) -> Result<UserRecord, Error> {
    let subject = subject.ok_or_else(|| Error::Server("a redeemed device authorization has no user".into()))?;
    match state.store.find_user(subject).await.map_err(store_error)? {
        Some(u) if !u.locked => Ok(u),
        _ => {
            METRICS.device.with_label_values(&["access_denied"]).inc();
            Err(Error::AccessDenied(
                "the account that approved this device is locked or no longer exists".into(),
            ))
        }
    }
}

/// Answers a poll: an RFC 8628 error until the user approved, then the tokens, once.
///
/// # Errors
/// `authorization_pending`, `slow_down`, `access_denied` (denied, or the approving account is
/// locked or gone), `expired_token`, `invalid_grant` (unknown, used, or another client's code),
/// `unauthorized_client`, and store or signing failures.
pub(super) async fn redeem(
    state: &AppState,
    client: &ClientRecord,
    request: DeviceCodeRequest,
    dpop_jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    registered(client).verify_grant(GrantType::DeviceCode)?;
    let hash = TokenHash::of(request.device_code.expose());
    let Some(poll) = state
        .store
        .poll_device(&hash, &client.id, now)
        .await
        .map_err(store_error)?
    else {
        return Err(Error::InvalidGrant(
            "the device_code is unknown, was already used, or was issued to another client".into(),
        ));
    };
    if let Some(e) = poll_error(poll.status, poll.expires_at <= now, poll.too_fast, poll.interval) {
        METRICS.device.with_label_values(&[e.code()]).inc();
        return Err(e);
    }
    let user = approver(state, poll.subject.as_deref()).await?;
    let auth_time = poll.auth_time.unwrap_or(now);
    let grant_id = random_b64(16);
    let claims = ClaimsRequest::default();
    // Not bound to the approving browser's session: signing out there does not sign the device out.
    let grant = UserGrant {
        user: &user,
        grant_id: &grant_id,
        auth_time,
        session_id: None,
        nonce: None,
        claims: &claims,
        audience: &poll.resources,
        authorized_resources: &poll.resources,
        family_expires_at: now.plus(state.config.refresh_family_max_age.as_secs()),
        dpop_jkt,
    };
    let response = issue::user_tokens(state, client, &poll.scope, &grant, None, now).await?;
    METRICS.device.with_label_values(&["redeemed"]).inc();
    tracing::info!(target: "gatehouse::audit", event = "token.issued", grant_type = "device_code", client_id = %client.id, sub = %user.id);
    Ok(response)
}
