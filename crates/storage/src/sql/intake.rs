//! Pushed authorization requests and the record of `jwks_uri` fetches.

use super::{Sql, Value, values};
use crate::codec::to_json;
use crate::model::{JwksFetch, PushedRequest};
use crate::traits::StoreResult;

/// `(hash, client_id, params, expires_at)`.
pub(crate) static PUSH: Sql =
    Sql::new("INSERT INTO pushed_requests (hash, client_id, params, expires_at) VALUES (?1, ?2, ?3, ?4)");
/// `(hash, now)`: `hash, client_id, params, expires_at` of a live pushed request.
pub(crate) static FIND_PUSHED: Sql =
    Sql::new("SELECT hash, client_id, params, expires_at FROM pushed_requests WHERE hash = ?1 AND expires_at > ?2");

/// `(client_id, uri, fetched_at, key_ids, error)`: a failed fetch keeps the key ids of the last
/// good one.
pub(crate) static RECORD_FETCH: Sql = Sql::new(
    "INSERT INTO jwks_fetches (client_id, uri, fetched_at, key_ids, error) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (client_id) DO UPDATE SET uri = excluded.uri, fetched_at = excluded.fetched_at,
     error = excluded.error,
     key_ids = CASE WHEN excluded.error IS NULL THEN excluded.key_ids ELSE jwks_fetches.key_ids END",
);
/// `(client_id)`: `client_id, uri, fetched_at, key_ids, error`.
pub(crate) static LAST_FETCH: Sql =
    Sql::new("SELECT client_id, uri, fetched_at, key_ids, error FROM jwks_fetches WHERE client_id = ?1");

pub(crate) fn push_params(p: &PushedRequest) -> [Value<'_>; 4] {
    values![&p.hash, p.client_id.as_str(), p.params.as_str(), p.expires_at]
}

pub(crate) fn fetch_params(f: &JwksFetch) -> StoreResult<[Value<'_>; 5]> {
    Ok(values![
        f.client_id.as_str(),
        f.uri.as_str(),
        f.fetched_at,
        to_json(&f.key_ids)?,
        f.error.as_deref(),
    ])
}
