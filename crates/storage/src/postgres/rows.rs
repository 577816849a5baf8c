//! Row -> record conversions for the PostgreSQL backend (same columns as the embedded schema).

use super::pg_err;
use crate::codec::{from_json, hash, parse_scope, parse_wire};
use crate::error::StoreError;
use crate::model::*;
use gatehouse_protocol::types::{ClientId, RedirectUri, UnixTime};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

pub(super) const CLIENT_COLS: &str = "id, name, secret_hash, auth_method, redirect_uris, grant_types, scopes, id_token_alg, created_at, access_token_format, resources, introspect";
pub(super) const USER_COLS: &str =
    "id, username, email, email_verified, name, password_hash, locked, created_at, updated_at";
pub(super) const SESSION_COLS: &str = "token_hash, sid, user_id, auth_time, expires_at";
pub(super) const INTERACTION_COLS: &str = "id, csrf_hash, browser_hash, request, login, expires_at";
pub(super) const ACCESS_COLS: &str =
    "hash, client_id, grant_id, subject, scope, claims, auth_time, issued_at, expires_at, audience, format";
pub(super) const REFRESH_COLS: &str = "hash, family_id, client_id, subject, scope, claims, auth_time, session_id, issued_at, expires_at, audience, family_expires_at";

fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx).map_err(pg_err)
}

pub(super) fn client(r: &Row) -> Result<ClientRecord, StoreError> {
    let uris: Vec<String> = from_json(&col::<String>(r, 4)?)?;
    let grants: Vec<String> = from_json(&col::<String>(r, 5)?)?;
    Ok(ClientRecord {
        id: ClientId::from_stored(col(r, 0)?),
        name: col(r, 1)?,
        secret_hash: col::<Option<Vec<u8>>>(r, 2)?.as_deref().map(hash).transpose()?,
        auth_method: parse_wire(&col::<String>(r, 3)?)?,
        redirect_uris: uris.into_iter().map(RedirectUri::from_stored).collect(),
        grant_types: grants.iter().map(|g| parse_wire(g)).collect::<Result<_, _>>()?,
        scopes: parse_scope(&col::<String>(r, 6)?)?,
        id_token_alg: parse_wire(&col::<String>(r, 7)?)?,
        created_at: UnixTime(col(r, 8)?),
        access_token_format: parse_wire(&col::<String>(r, 9)?)?,
        resources: from_json(&col::<String>(r, 10)?)?,
        introspect: col(r, 11)?,
    })
}

pub(super) fn user(r: &Row) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: col(r, 0)?,
        username: col(r, 1)?,
        email: col(r, 2)?,
        email_verified: col(r, 3)?,
        name: col(r, 4)?,
        password_hash: col(r, 5)?,
        locked: col(r, 6)?,
        created_at: UnixTime(col(r, 7)?),
        updated_at: UnixTime(col(r, 8)?),
    })
}

pub(super) fn session(r: &Row) -> Result<BrowserSession, StoreError> {
    Ok(BrowserSession {
        token_hash: hash(&col::<Vec<u8>>(r, 0)?)?,
        sid: col(r, 1)?,
        user_id: col(r, 2)?,
        auth_time: UnixTime(col(r, 3)?),
        expires_at: UnixTime(col(r, 4)?),
    })
}

pub(super) fn interaction(r: &Row) -> Result<Interaction, StoreError> {
    Ok(Interaction {
        id: col(r, 0)?,
        csrf_hash: hash(&col::<Vec<u8>>(r, 1)?)?,
        browser_hash: hash(&col::<Vec<u8>>(r, 2)?)?,
        request: from_json(&col::<String>(r, 3)?)?,
        login: col::<Option<String>>(r, 4)?.as_deref().map(from_json).transpose()?,
        expires_at: UnixTime(col(r, 5)?),
    })
}

pub(super) fn access_token(r: &Row) -> Result<AccessTokenRecord, StoreError> {
    Ok(AccessTokenRecord {
        hash: hash(&col::<Vec<u8>>(r, 0)?)?,
        client_id: ClientId::from_stored(col(r, 1)?),
        grant_id: col(r, 2)?,
        subject: col(r, 3)?,
        scope: parse_scope(&col::<String>(r, 4)?)?,
        claims: from_json(&col::<String>(r, 5)?)?,
        auth_time: col::<Option<i64>>(r, 6)?.map(UnixTime),
        issued_at: UnixTime(col(r, 7)?),
        expires_at: UnixTime(col(r, 8)?),
        audience: from_json(&col::<String>(r, 9)?)?,
        format: parse_wire(&col::<String>(r, 10)?)?,
    })
}

pub(super) fn refresh_token(r: &Row) -> Result<RefreshTokenRecord, StoreError> {
    Ok(RefreshTokenRecord {
        hash: hash(&col::<Vec<u8>>(r, 0)?)?,
        family_id: col(r, 1)?,
        client_id: ClientId::from_stored(col(r, 2)?),
        subject: col(r, 3)?,
        scope: parse_scope(&col::<String>(r, 4)?)?,
        claims: from_json(&col::<String>(r, 5)?)?,
        auth_time: UnixTime(col(r, 6)?),
        session_id: col(r, 7)?,
        issued_at: UnixTime(col(r, 8)?),
        expires_at: UnixTime(col(r, 9)?),
        audience: from_json(&col::<String>(r, 10)?)?,
        family_expires_at: UnixTime(col(r, 11)?),
    })
}

pub(super) fn key(r: &Row) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: col(r, 0)?,
        alg: parse_wire(&col::<String>(r, 1)?)?,
        private_der: col(r, 2)?,
        created_at: UnixTime(col(r, 3)?),
        activates_at: UnixTime(col(r, 4)?),
        retires_at: col::<Option<i64>>(r, 5)?.map(UnixTime),
    })
}
