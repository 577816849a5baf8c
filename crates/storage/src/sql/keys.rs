//! Signing keys and server secrets.

use super::{Sql, Value, insert, key_cols, select, values};
use crate::model::SigningKeyRecord;

pub(crate) static LIST: Sql = select!(key_cols, " FROM signing_keys ORDER BY created_at, kid");
/// Parameters: [`params`].
pub(crate) static INSERT: Sql = insert!("signing_keys", key_cols);
/// `(alg)`: the kid of the newest key of an algorithm.
pub(crate) static NEWEST: Sql =
    Sql::new("SELECT kid FROM signing_keys WHERE alg = ?1 ORDER BY created_at DESC, kid DESC LIMIT 1");
/// `(alg, at)`: retires every key of an algorithm at `at`, or earlier if already scheduled.
pub(crate) static RETIRE_ALG: Sql =
    Sql::new("UPDATE signing_keys SET retires_at = ?2 WHERE alg = ?1 AND (retires_at IS NULL OR retires_at > ?2)");
/// `(kid, at)`: likewise one key.
pub(crate) static RETIRE: Sql =
    Sql::new("UPDATE signing_keys SET retires_at = ?2 WHERE kid = ?1 AND (retires_at IS NULL OR retires_at > ?2)");
pub(crate) static EXISTS: Sql = Sql::new("SELECT 1 FROM signing_keys WHERE kid = ?1");
pub(crate) static SET_MATERIAL: Sql = Sql::new("UPDATE signing_keys SET private_der = ?2 WHERE kid = ?1");
/// PostgreSQL only: serialises key rotations (SQLite's write lock already does).
pub(crate) static ROTATION_LOCK: Sql = Sql::new("SELECT pg_advisory_xact_lock(?1)");
/// An arbitrary constant that names the key rotation lock.
pub(crate) const ROTATION_LOCK_KEY: i64 = 0x6761_7465_6b65_7973;

/// `(name, value, now)`: the first instance to ask stores its candidate.
pub(crate) static INSERT_SECRET: Sql =
    Sql::new("INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING");
pub(crate) static FIND_SECRET: Sql = Sql::new("SELECT value FROM server_secrets WHERE name = ?1");
pub(crate) static SET_SECRET: Sql = Sql::new("UPDATE server_secrets SET value = ?2 WHERE name = ?1");

/// The columns of a key, in [`key_cols!`] order.
pub(crate) fn params(k: &SigningKeyRecord) -> [Value<'_>; 6] {
    values![
        &k.kid,
        k.alg.as_str(),
        &k.private_der,
        k.created_at,
        k.activates_at,
        k.retires_at
    ]
}
