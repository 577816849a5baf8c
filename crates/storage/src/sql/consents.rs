//! Remembered consent.

use super::Sql;

/// `(user_id, client_id)`.
pub(crate) static FIND: Sql = Sql::new("SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2");
pub(crate) static LIST: Sql =
    Sql::new("SELECT user_id, client_id, scope, granted_at FROM consents ORDER BY user_id, client_id");
/// Granting merges under the row lock: insert-or-keep, lock and read, write the union. SQLite
/// has no `FOR UPDATE`; its transaction holds the database's write lock from the start.
pub(crate) static CREATE_EMPTY: Sql = Sql::new(
    "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES (?1, ?2, '', ?3) ON CONFLICT DO NOTHING",
);
pub(crate) static LOCK: Sql = Sql::per_backend(
    "SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2",
    "SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2 FOR UPDATE",
);
/// `(user_id, client_id, scope, now)`.
pub(crate) static SET: Sql =
    Sql::new("UPDATE consents SET scope = ?3, granted_at = ?4 WHERE user_id = ?1 AND client_id = ?2");
