//! Values that may be used once, by purpose.

use super::Sql;
use gatehouse_protocol::types::TokenHash;

/// `(id, purpose, expires_at, now)` (the id from [`seen_id`]): records a single-use value. One row changes when it is
/// new, or when it was seen before but has expired (the old record is replaced); none when it is
/// live: a replay.
pub(crate) static FIRST_USE: Sql = Sql::new(
    "INSERT INTO seen_values (id, purpose, expires_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
     WHERE seen_values.expires_at <= ?4",
);

/// The key of a single-use value: one column, so cleanup deletes exactly the expired rows (a value
/// seen under two purposes has two keys).
pub(crate) fn seen_id(purpose: &str, hash: &TokenHash) -> TokenHash {
    TokenHash::of(&format!(
        "{purpose}\n{}",
        gatehouse_protocol::types::b64url(hash.as_bytes())
    ))
}
