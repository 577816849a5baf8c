//! Authorization codes.

use super::{Sql, Value, values};
use crate::codec::to_json;
use crate::traits::StoreResult;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::types::TokenHash;

pub(crate) static INSERT: Sql =
    Sql::new("INSERT INTO codes (hash, grant_id, client_id, grant_data, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)");
/// `(hash, now)`: a consumed code stays findable so that a replay after expiry is still detected.
pub(crate) static FIND: Sql = Sql::new(
    "SELECT grant_data, consumed_at IS NOT NULL FROM codes
     WHERE hash = ?1 AND (expires_at > ?2 OR consumed_at IS NOT NULL)",
);
/// `(hash, now)`: one statement, so exactly one caller sees the row flip to consumed.
pub(crate) static TAKE: Sql = Sql::new(
    "UPDATE codes SET consumed_at = ?2 WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2
     RETURNING grant_data",
);
/// `(hash)`: the grant of a code consumed before.
pub(crate) static CONSUMED: Sql = Sql::new("SELECT grant_id FROM codes WHERE hash = ?1 AND consumed_at IS NOT NULL");

pub(crate) fn params<'a>(hash: &'a TokenHash, g: &'a CodeGrant) -> StoreResult<[Value<'a>; 5]> {
    Ok(values![
        hash,
        &g.grant_id,
        g.client_id.as_str(),
        to_json(g)?,
        g.expires_at
    ])
}
