//! End users, and everything deleted or revoked with them.

use super::{Sql, Value, insert, select, user_cols, values};
use crate::model::UserRecord;

/// Parameters: [`params`].
pub(crate) static INSERT: Sql = insert!("users", user_cols);
/// Parameters: [`params`].
pub(crate) static UPDATE: Sql = Sql::new(
    "UPDATE users SET username = ?2, email = ?3, email_verified = ?4, name = ?5, password_hash = ?6,
     locked = ?7, created_at = ?8, updated_at = ?9 WHERE id = ?1",
);
pub(crate) static FIND: Sql = select!(user_cols, " FROM users WHERE id = ?1");
pub(crate) static FIND_BY_USERNAME: Sql = select!(user_cols, " FROM users WHERE username = ?1");
pub(crate) static LIST: Sql = select!(user_cols, " FROM users ORDER BY username");

/// Deleting a user, in one transaction: tokens first (they name the user without a foreign key).
pub(crate) static DELETE: [Sql; 3] = [
    Sql::new("DELETE FROM access_tokens WHERE subject = ?1"),
    Sql::new("DELETE FROM refresh_tokens WHERE subject = ?1"),
    Sql::new("DELETE FROM users WHERE id = ?1"),
];

/// Ending everything a user holds, `(user_id, now)`: grants first, so that a refresh rotating at
/// this moment cannot leave a live successor; then codes not yet exchanged and sign-ins waiting at
/// the consent page (the JSON access differs per backend).
pub(crate) static END_GRANTS: [Sql; 4] = [
    Sql::new(
        "INSERT INTO revoked_grants (grant_id, revoked_at) SELECT DISTINCT family_id, CAST(?2 AS BIGINT)
         FROM refresh_tokens WHERE subject = ?1 ON CONFLICT (grant_id) DO NOTHING",
    ),
    Sql::new(
        "INSERT INTO revoked_grants (grant_id, revoked_at) SELECT DISTINCT grant_id, CAST(?2 AS BIGINT)
         FROM access_tokens WHERE subject = ?1 AND grant_id IS NOT NULL ON CONFLICT (grant_id) DO NOTHING",
    ),
    Sql::per_backend(
        "DELETE FROM codes WHERE consumed_at IS NULL AND json_extract(grant_data, '$.subject') = ?1
         AND CAST(?2 AS BIGINT) IS NOT NULL",
        "DELETE FROM codes WHERE consumed_at IS NULL AND (grant_data::json ->> 'subject') = ?1
         AND CAST(?2 AS BIGINT) IS NOT NULL",
    ),
    Sql::per_backend(
        "DELETE FROM interactions WHERE json_extract(login, '$.user_id') = ?1 AND CAST(?2 AS BIGINT) IS NOT NULL",
        "DELETE FROM interactions WHERE (login::json ->> 'user_id') = ?1 AND CAST(?2 AS BIGINT) IS NOT NULL",
    ),
];
/// Every token of the user issued up to now ends, those never stored (JWT access tokens) too:
/// `(user_id, now in milliseconds)`.
pub(crate) static REVOKE_SUBJECT: Sql = Sql::per_backend(
    "INSERT INTO revoked_subjects (subject, revoked_at_ms) VALUES (?1, ?2)
     ON CONFLICT (subject) DO UPDATE SET revoked_at_ms = max(revoked_at_ms, excluded.revoked_at_ms)",
    "INSERT INTO revoked_subjects (subject, revoked_at_ms) VALUES (?1, ?2)
     ON CONFLICT (subject) DO UPDATE SET revoked_at_ms = GREATEST(revoked_subjects.revoked_at_ms, excluded.revoked_at_ms)",
);
/// Then the tokens, `(user_id, now)`, counted.
pub(crate) static REVOKE_TOKENS: [Sql; 2] = [
    Sql::new("UPDATE access_tokens SET revoked_at = ?2 WHERE subject = ?1 AND revoked_at IS NULL"),
    Sql::new("UPDATE refresh_tokens SET revoked_at = ?2 WHERE subject = ?1 AND revoked_at IS NULL"),
];
/// Then the browser sessions, `(user_id)`.
pub(crate) static DELETE_SESSIONS: Sql = Sql::new("DELETE FROM browser_sessions WHERE user_id = ?1");

/// The columns of a user, in [`user_cols!`] order.
pub(crate) fn params(u: &UserRecord) -> [Value<'_>; 9] {
    values![
        &u.id,
        &u.username,
        &u.email,
        u.email_verified,
        &u.name,
        &u.password_hash,
        u.locked,
        u.created_at,
        u.updated_at,
    ]
}
