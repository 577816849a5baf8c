//! Row <-> record conversions and error mapping for the SQLite backend.

pub(super) use crate::codec::{from_json, parse_scope, to_json};
use crate::codec::{hash, parse_wire};
use crate::error::StoreError;
use crate::model::*;
use gatehouse_protocol::types::{ClientId, RedirectUri, UnixTime};
use rusqlite::{Row, ToSql};

pub(super) const CLIENT_COLS: &str = "id, name, secret_hash, auth_method, redirect_uris, grant_types, scopes, id_token_alg, created_at, access_token_format, resources, introspect";
pub(super) const USER_COLS: &str =
    "id, username, email, email_verified, name, password_hash, locked, created_at, updated_at";
pub(super) const INTERACTION_COLS: &str = "id, csrf_hash, browser_hash, request, login, expires_at";
pub(super) const ACCESS_COLS: &str =
    "hash, client_id, grant_id, subject, scope, claims, auth_time, issued_at, expires_at, audience, format";
pub(super) const REFRESH_COLS: &str = "hash, family_id, client_id, subject, scope, claims, auth_time, session_id, issued_at, expires_at, audience, family_expires_at";

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DatabaseBusy | DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(super) fn conflict_or(e: rusqlite::Error, what: String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(what)
        }
        _ => map_err(e),
    }
}

pub(super) fn client_params(c: &ClientRecord) -> Result<[Box<dyn ToSql>; 12], StoreError> {
    let uris: Vec<&str> = c.redirect_uris.iter().map(RedirectUri::as_str).collect();
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    Ok([
        Box::new(c.id.as_str().to_owned()),
        Box::new(c.name.clone()),
        Box::new(c.secret_hash.map(|h| h.as_bytes().to_vec())),
        Box::new(c.auth_method.as_str()),
        Box::new(to_json(&uris)?),
        Box::new(to_json(&grants)?),
        Box::new(c.scopes.to_param()),
        Box::new(c.id_token_alg.as_str()),
        Box::new(c.created_at.0),
        Box::new(c.access_token_format.as_str()),
        Box::new(to_json(&c.resources)?),
        Box::new(c.introspect),
    ])
}

pub(super) fn read_client(r: &Row<'_>) -> rusqlite::Result<Result<ClientRecord, StoreError>> {
    let secret: Option<Vec<u8>> = r.get(2)?;
    let (auth, uris, grants, scopes, alg): (String, String, String, String, String) =
        (r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?);
    let (id, name, created): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(8)?);
    let (format, resources, introspect): (String, String, bool) = (r.get(9)?, r.get(10)?, r.get(11)?);
    Ok((|| {
        let uris: Vec<String> = from_json(&uris)?;
        let grants: Vec<String> = from_json(&grants)?;
        Ok(ClientRecord {
            id: ClientId::from_stored(id),
            name,
            secret_hash: secret.as_deref().map(hash).transpose()?,
            auth_method: parse_wire(&auth)?,
            redirect_uris: uris.into_iter().map(RedirectUri::from_stored).collect(),
            grant_types: grants.iter().map(|g| parse_wire(g)).collect::<Result<_, _>>()?,
            scopes: parse_scope(&scopes)?,
            id_token_alg: parse_wire(&alg)?,
            created_at: UnixTime(created),
            access_token_format: parse_wire(&format)?,
            resources: from_json(&resources)?,
            introspect,
        })
    })())
}

pub(super) fn user_params(u: &UserRecord) -> [&dyn ToSql; 9] {
    [
        &u.id,
        &u.username,
        &u.email,
        &u.email_verified,
        &u.name,
        &u.password_hash,
        &u.locked,
        &u.created_at.0,
        &u.updated_at.0,
    ]
}

pub(super) fn read_user(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        email_verified: r.get(3)?,
        name: r.get(4)?,
        password_hash: r.get(5)?,
        locked: r.get(6)?,
        created_at: UnixTime(r.get(7)?),
        updated_at: UnixTime(r.get(8)?),
    })
}

pub(super) fn read_session(r: &Row<'_>) -> rusqlite::Result<Result<BrowserSession, StoreError>> {
    let h: Vec<u8> = r.get(0)?;
    let (sid, user_id, auth, exp): (String, String, i64, i64) = (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
    Ok(hash(&h).map(|token_hash| BrowserSession {
        token_hash,
        sid,
        user_id,
        auth_time: UnixTime(auth),
        expires_at: UnixTime(exp),
    }))
}

pub(super) fn read_interaction(r: &Row<'_>) -> rusqlite::Result<Result<Interaction, StoreError>> {
    let (id, csrf, browser, request, login, exp): (String, Vec<u8>, Vec<u8>, String, Option<String>, i64) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
    Ok((|| {
        Ok(Interaction {
            id,
            csrf_hash: hash(&csrf)?,
            browser_hash: hash(&browser)?,
            request: from_json(&request)?,
            login: login.as_deref().map(from_json).transpose()?,
            expires_at: UnixTime(exp),
        })
    })())
}

pub(super) fn read_access_token(r: &Row<'_>) -> rusqlite::Result<Result<AccessTokenRecord, StoreError>> {
    let (h, client, grant, subject, scope, claims): (Vec<u8>, String, Option<String>, Option<String>, String, String) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
    let (auth, iat, exp): (Option<i64>, i64, i64) = (r.get(6)?, r.get(7)?, r.get(8)?);
    let (audience, format): (String, String) = (r.get(9)?, r.get(10)?);
    Ok((|| {
        Ok(AccessTokenRecord {
            hash: hash(&h)?,
            client_id: ClientId::from_stored(client),
            grant_id: grant,
            subject,
            scope: parse_scope(&scope)?,
            claims: from_json(&claims)?,
            auth_time: auth.map(UnixTime),
            issued_at: UnixTime(iat),
            expires_at: UnixTime(exp),
            audience: from_json(&audience)?,
            format: parse_wire(&format)?,
        })
    })())
}

pub(super) fn read_refresh_token(r: &Row<'_>) -> rusqlite::Result<Result<RefreshTokenRecord, StoreError>> {
    let (h, family, client, subject, scope, claims): (Vec<u8>, String, String, String, String, String) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
    let (auth, sid, iat, exp): (i64, Option<String>, i64, i64) = (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?);
    let (audience, family_exp): (String, i64) = (r.get(10)?, r.get(11)?);
    Ok((|| {
        Ok(RefreshTokenRecord {
            hash: hash(&h)?,
            family_id: family,
            client_id: ClientId::from_stored(client),
            subject,
            scope: parse_scope(&scope)?,
            claims: from_json(&claims)?,
            auth_time: UnixTime(auth),
            session_id: sid,
            issued_at: UnixTime(iat),
            expires_at: UnixTime(exp),
            audience: from_json(&audience)?,
            family_expires_at: UnixTime(family_exp),
        })
    })())
}

pub(super) fn read_key(r: &Row<'_>) -> rusqlite::Result<Result<SigningKeyRecord, StoreError>> {
    let (kid, alg, der, created): (String, String, Vec<u8>, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    let (activates, retires): (i64, Option<i64>) = (r.get(4)?, r.get(5)?);
    Ok(parse_wire(&alg).map(|alg| SigningKeyRecord {
        kid,
        alg,
        private_der: der,
        created_at: UnixTime(created),
        activates_at: UnixTime(activates),
        retires_at: retires.map(UnixTime),
    }))
}
