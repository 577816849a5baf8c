//! Row → record decoders, written once over [`Cols`], which both drivers' rows implement (in
//! `sqlite/mod.rs` and `postgres/mod.rs`). Column orders are the lists in [`crate::sql`].

use crate::codec::{from_json, hash, parse_scope, parse_wire};
use crate::model::*;
use crate::traits::StoreResult;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::grant::device_code::{DeviceStatus, UserCode};
use gatehouse_protocol::logout::BackchannelUri;
use gatehouse_protocol::types::{ClientId, JwksUri, RedirectUri, ScopeSet, UnixTime};

/// Typed access to the columns of a result row, by index.
pub(crate) trait Cols {
    fn int(&self, i: usize) -> StoreResult<i64>;
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>>;
    fn bool(&self, i: usize) -> StoreResult<bool>;
    fn text(&self, i: usize) -> StoreResult<String>;
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>>;
    fn bytes(&self, i: usize) -> StoreResult<Vec<u8>>;
    fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>>;

    fn time(&self, i: usize) -> StoreResult<UnixTime> {
        self.int(i).map(UnixTime)
    }
    fn opt_time(&self, i: usize) -> StoreResult<Option<UnixTime>> {
        Ok(self.opt_int(i)?.map(UnixTime))
    }
    fn scope(&self, i: usize) -> StoreResult<ScopeSet> {
        parse_scope(&self.text(i)?)
    }
}

/// A decoder, as the row helpers of both backends take it.
pub(crate) type Decode<T> = fn(&dyn Cols) -> StoreResult<T>;

fn json<T: serde::de::DeserializeOwned>(r: &dyn Cols, i: usize) -> StoreResult<T> {
    from_json(&r.text(i)?)
}

fn wire<T: std::str::FromStr<Err = String>>(r: &dyn Cols, i: usize) -> StoreResult<T> {
    parse_wire(&r.text(i)?)
}

pub(crate) fn client(r: &dyn Cols) -> StoreResult<ClientRecord> {
    let uris: Vec<String> = json(r, 4)?;
    let grants: Vec<String> = json(r, 5)?;
    Ok(ClientRecord {
        id: ClientId::from_stored(r.text(0)?),
        name: r.text(1)?,
        secret_hash: r.opt_bytes(2)?.as_deref().map(hash).transpose()?,
        auth_method: wire(r, 3)?,
        redirect_uris: uris.into_iter().map(RedirectUri::from_stored).collect(),
        grant_types: grants.iter().map(|g| parse_wire(g)).collect::<Result<_, _>>()?,
        scopes: r.scope(6)?,
        id_token_alg: wire(r, 7)?,
        created_at: r.time(8)?,
        access_token_format: wire(r, 9)?,
        resources: json(r, 10)?,
        introspect: r.bool(11)?,
        post_logout_redirect_uris: json::<Vec<String>>(r, 12)?
            .into_iter()
            .map(RedirectUri::from_stored)
            .collect(),
        backchannel_logout_uri: r.opt_text(13)?.map(BackchannelUri::from_stored),
        backchannel_logout_session_required: r.bool(14)?,
        jwks: r.opt_text(15)?,
        token_endpoint_auth_signing_alg: r.opt_text(16)?,
        strict_assertion_audience: r.bool(17)?,
        jwks_uri: r.opt_text(18)?.map(JwksUri::from_stored),
        request_object_signing_alg: r.opt_text(19)?,
        require_pushed_authorization_requests: r.bool(20)?,
        require_signed_request_object: r.bool(21)?,
        dpop_bound_access_tokens: r.bool(22)?,
        origin: wire(r, 23)?,
        registration_token_hash: r.opt_bytes(24)?.as_deref().map(hash).transpose()?,
        registration_policy: r.opt_text(25)?,
        about: json(r, 26)?,
        userinfo_alg: r.opt_text(27)?.as_deref().map(parse_wire).transpose()?,
        default_max_age: r.opt_int(28)?.map(|s| u64::try_from(s).unwrap_or(0)),
        require_auth_time: r.bool(29)?,
        secret_set_at: r.opt_time(30)?,
        last_used_at: r.opt_time(31)?,
    })
}

/// `hash, client_id, params, expires_at`.
pub(crate) fn pushed(r: &dyn Cols) -> StoreResult<PushedRequest> {
    Ok(PushedRequest {
        hash: hash(&r.bytes(0)?)?,
        client_id: ClientId::from_stored(r.text(1)?),
        params: r.text(2)?,
        expires_at: r.time(3)?,
    })
}

/// `client_id, uri, fetched_at, key_ids, error`.
pub(crate) fn jwks_fetch(r: &dyn Cols) -> StoreResult<JwksFetch> {
    Ok(JwksFetch {
        client_id: ClientId::from_stored(r.text(0)?),
        uri: r.text(1)?,
        fetched_at: r.time(2)?,
        key_ids: json(r, 3)?,
        error: r.opt_text(4)?,
    })
}

/// `id, sid, client_id, subject, initiator, created_at, attempts, next_attempt_at, last_error,
/// gave_up_at`.
pub(crate) fn notice(r: &dyn Cols) -> StoreResult<LogoutNotice> {
    Ok(LogoutNotice {
        id: r.text(0)?,
        sid: r.text(1)?,
        client_id: ClientId::from_stored(r.text(2)?),
        subject: r.text(3)?,
        initiator: r.text(4)?,
        created_at: r.time(5)?,
        attempts: u32::try_from(r.int(6)?).unwrap_or(u32::MAX),
        next_attempt_at: r.time(7)?,
        last_error: r.opt_text(8)?,
        gave_up_at: r.opt_time(9)?,
    })
}

/// The columns of `sql::devices`' `device_cols!`.
pub(crate) fn device(r: &dyn Cols) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        hash: hash(&r.bytes(0)?)?,
        user_code: UserCode::from_stored(r.text(1)?),
        client_id: ClientId::from_stored(r.text(2)?),
        scope: r.scope(3)?,
        resources: json(r, 4)?,
        created_at: r.time(5)?,
        expires_at: r.time(6)?,
        interval: r.int(7)?,
        state: DeviceState::parse(&r.text(8)?)
            .ok_or_else(|| crate::error::StoreError::Internal("unknown device authorization state".into()))?,
        subject: r.opt_text(9)?,
        auth_time: r.opt_time(10)?,
        requested_from: r.opt_text(11)?,
    })
}

/// `status, too_fast, interval_secs, expires_at, subject, auth_time, scope, resources` of a poll.
/// An approval that expired before it was collected reads as pending (the caller answers
/// `expired_token`).
pub(crate) fn device_poll(r: &dyn Cols) -> StoreResult<DevicePoll> {
    let status = match r.text(0)?.as_str() {
        "redeemed" => DeviceStatus::Redeemed,
        "denied" => DeviceStatus::Denied,
        _ => DeviceStatus::Pending,
    };
    Ok(DevicePoll {
        status,
        too_fast: r.int(1)? != 0,
        interval: r.int(2)?,
        expires_at: r.time(3)?,
        subject: r.opt_text(4)?,
        auth_time: r.opt_time(5)?,
        scope: r.scope(6)?,
        resources: json(r, 7)?,
    })
}

/// `window_start, failures` of the wrong-code counter.
pub(crate) fn guesses(r: &dyn Cols) -> StoreResult<(u32, UnixTime)> {
    Ok((u32::try_from(r.int(1)?).unwrap_or(u32::MAX), r.time(0)?))
}

/// `sid, user_id`.
pub(crate) fn sid_and_user(r: &dyn Cols) -> StoreResult<(String, String)> {
    Ok((r.text(0)?, r.text(1)?))
}

/// `sid, user_id, auth_time, expires_at`, without clients yet.
pub(crate) fn session_summary(r: &dyn Cols) -> StoreResult<SessionSummary> {
    Ok(SessionSummary {
        sid: r.text(0)?,
        user_id: r.text(1)?,
        auth_time: r.time(2)?,
        expires_at: r.time(3)?,
        clients: Vec::new(),
    })
}

/// `sid, client_id, first_at, last_at`.
pub(crate) fn session_client(r: &dyn Cols) -> StoreResult<(String, (ClientId, UnixTime, UnixTime))> {
    Ok((r.text(0)?, (ClientId::from_stored(r.text(1)?), r.time(2)?, r.time(3)?)))
}

pub(crate) fn user(r: &dyn Cols) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: r.text(0)?,
        username: r.text(1)?,
        email: r.opt_text(2)?,
        email_verified: r.bool(3)?,
        name: r.opt_text(4)?,
        password_hash: r.text(5)?,
        locked: r.bool(6)?,
        created_at: r.time(7)?,
        updated_at: r.time(8)?,
    })
}

pub(crate) fn scope(r: &dyn Cols) -> StoreResult<ScopeRecord> {
    Ok(ScopeRecord {
        name: r.text(0)?,
        description: r.text(1)?,
        builtin: r.bool(2)?,
    })
}

pub(crate) fn consent(r: &dyn Cols) -> StoreResult<(String, ClientId, ScopeSet, UnixTime)> {
    Ok((r.text(0)?, ClientId::from_stored(r.text(1)?), r.scope(2)?, r.time(3)?))
}

pub(crate) fn session(r: &dyn Cols) -> StoreResult<BrowserSession> {
    Ok(BrowserSession {
        token_hash: hash(&r.bytes(0)?)?,
        sid: r.text(1)?,
        user_id: r.text(2)?,
        auth_time: r.time(3)?,
        expires_at: r.time(4)?,
    })
}

pub(crate) fn interaction(r: &dyn Cols) -> StoreResult<Interaction> {
    Ok(Interaction {
        id: r.text(0)?,
        csrf_hash: hash(&r.bytes(1)?)?,
        browser_hash: hash(&r.bytes(2)?)?,
        request: json(r, 3)?,
        login: r.opt_text(4)?.as_deref().map(from_json).transpose()?,
        expires_at: r.time(5)?,
    })
}

pub(crate) fn access_token(r: &dyn Cols) -> StoreResult<AccessTokenRecord> {
    Ok(AccessTokenRecord {
        hash: hash(&r.bytes(0)?)?,
        client_id: ClientId::from_stored(r.text(1)?),
        grant_id: r.opt_text(2)?,
        subject: r.opt_text(3)?,
        scope: r.scope(4)?,
        claims: json(r, 5)?,
        auth_time: r.opt_time(6)?,
        issued_at: r.time(7)?,
        expires_at: r.time(8)?,
        audience: json(r, 9)?,
        format: wire(r, 10)?,
        dpop_jkt: r.opt_text(11)?,
    })
}

pub(crate) fn refresh_token(r: &dyn Cols) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: hash(&r.bytes(0)?)?,
        family_id: r.text(1)?,
        client_id: ClientId::from_stored(r.text(2)?),
        subject: r.text(3)?,
        scope: r.scope(4)?,
        claims: json(r, 5)?,
        auth_time: r.time(6)?,
        session_id: r.opt_text(7)?,
        issued_at: r.time(8)?,
        expires_at: r.time(9)?,
        audience: json(r, 10)?,
        family_expires_at: r.time(11)?,
        dpop_jkt: r.opt_text(12)?,
    })
}

pub(crate) fn key(r: &dyn Cols) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: r.text(0)?,
        alg: wire(r, 1)?,
        private_der: r.bytes(2)?,
        created_at: r.time(3)?,
        activates_at: r.time(4)?,
        retires_at: r.opt_time(5)?,
    })
}

/// A stored code and whether it was consumed.
pub(crate) fn code(r: &dyn Cols) -> StoreResult<(CodeGrant, bool)> {
    Ok((json(r, 0)?, r.bool(1)?))
}

/// Column 0 as a scope set.
pub(crate) fn scope_set(r: &dyn Cols) -> StoreResult<ScopeSet> {
    r.scope(0)
}

/// Column 0 as text, as bytes, as an optional time; any row at all.
pub(crate) fn text(r: &dyn Cols) -> StoreResult<String> {
    r.text(0)
}
pub(crate) fn bytes(r: &dyn Cols) -> StoreResult<Vec<u8>> {
    r.bytes(0)
}
pub(crate) fn opt_time(r: &dyn Cols) -> StoreResult<Option<UnixTime>> {
    r.opt_time(0)
}
pub(crate) fn exists(_: &dyn Cols) -> StoreResult<()> {
    Ok(())
}
