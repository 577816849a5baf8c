//! Access and refresh tokens, and revoked grants.
//!
//! Every token read checks `revoked_grants`, so tokens of a grant written concurrently with (or
//! after) its revocation are dead too.

use super::{Sql, Value, access_cols, insert, refresh_cols, select, values};
use crate::codec::to_json;
use crate::model::{AccessTokenRecord, RefreshTokenRecord};
use crate::traits::StoreResult;

/// Parameters: [`access_params`].
pub(crate) static INSERT_ACCESS: Sql = insert!("access_tokens", access_cols);
/// PostgreSQL: many access tokens in one statement, one array per column of [`access_cols!`]
/// (elements from [`access_params`]); see `postgres/inserts.rs`. The embedded store batches
/// whole transactions instead.
pub(crate) static INSERT_ACCESS_MANY: Sql = Sql::per_backend(
    "SELECT 'PostgreSQL only'",
    concat!(
        "INSERT INTO access_tokens (",
        access_cols!(),
        ") SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
         $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::text[], $12::text[])"
    ),
);
/// What makes a stored access token live, besides its expiry: not revoked, nor its grant.
macro_rules! live_access {
    () => {
        "revoked_at IS NULL
         AND (grant_id IS NULL OR NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = access_tokens.grant_id))"
    };
}
/// `(hash, now)`.
pub(crate) static FIND_ACCESS: Sql = Sql::new(concat!(
    "SELECT ",
    access_cols!(),
    " FROM access_tokens WHERE hash = ?1 AND expires_at > ?2 AND ",
    live_access!()
));
/// PostgreSQL: [`FIND_ACCESS`] for many tokens at once (`postgres/lookups.rs`): arrays of hashes,
/// of "now"s and of positions; each live token comes back with its position in column
/// [`FIND_ACCESS_MANY_ORDER`].
pub(crate) static FIND_ACCESS_MANY: Sql = Sql::per_backend(
    "SELECT 'PostgreSQL only'",
    concat!(
        "SELECT ",
        access_cols!(),
        ", q.i FROM unnest($1::bytea[], $2::int8[], $3::int4[]) AS q(h, at, i)
         JOIN access_tokens ON hash = q.h WHERE expires_at > q.at AND ",
        live_access!()
    ),
);
/// The column of [`FIND_ACCESS_MANY`] that holds a row's position among the hashes asked.
pub(crate) const FIND_ACCESS_MANY_ORDER: usize = 12;
/// `(hash, client_id, now)`.
pub(crate) static REVOKE_ACCESS: Sql =
    Sql::new("UPDATE access_tokens SET revoked_at = ?3 WHERE hash = ?1 AND client_id = ?2 AND revoked_at IS NULL");

/// Parameters: [`refresh_params`].
pub(crate) static INSERT_REFRESH: Sql = insert!("refresh_tokens", refresh_cols);
/// `(hash, now)`: the live refresh token.
pub(crate) static FIND_REFRESH: Sql = select!(
    refresh_cols,
    " FROM refresh_tokens WHERE hash = ?1 AND expires_at > ?2 AND family_expires_at > ?2
     AND revoked_at IS NULL AND rotated_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)"
);
/// `(now)`: every live refresh token.
pub(crate) static LIST_REFRESH: Sql = select!(
    refresh_cols,
    " FROM refresh_tokens WHERE expires_at > ?1 AND family_expires_at > ?1
     AND revoked_at IS NULL AND rotated_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)
     ORDER BY issued_at"
);
/// `(hash)`: takes the row lock of the presented refresh token before anything else, so every
/// rotation or replay of one token queues on that one lock. Without it a replay's UPDATE that
/// matches nothing still leaves the row locked (PostgreSQL locks the newest version before it
/// rechecks the condition), and two replays then wait for each other: one holds that row and
/// wants the grant's `revoked_grants` record, the other holds the record and wants the row.
/// SQLite's transaction holds the database's write lock from the start.
pub(crate) static LOCK_REFRESH: Sql = Sql::per_backend(
    "SELECT 1 FROM refresh_tokens WHERE hash = ?1",
    "SELECT 1 FROM refresh_tokens WHERE hash = ?1 FOR UPDATE",
);
macro_rules! rotate {
    () => {
        "UPDATE refresh_tokens SET rotated_at = ?2, rotated_to = ?3
         WHERE hash = ?1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
           AND family_expires_at > ?2
           AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)
         RETURNING "
    };
}
/// `(hash, now, successor_hash)`: marks a live token rotated and returns it. On PostgreSQL the row
/// lock serialises concurrent rotations: a loser re-checks the WHERE clause after the winner
/// commits and finds the token rotated.
pub(crate) static ROTATE: Sql = Sql::new(concat!(rotate!(), refresh_cols!()));
/// PostgreSQL: the rotation of a live token in one statement, `(hash, now, successor_hash,
/// successor_expires_at, bind_to)`, then any further parts: [`ROTATE`] and the insert of its
/// successor, which continues the grant (everything of the rotated token but its value and
/// lifetime; bound to `bind_to`, a JWK thumbprint, when the rotated token was not bound), as
/// `ops::rotate_refresh_token` builds it. One round trip and no transaction instead of five; the
/// row lock is held for the statement only. A token that is not live gets nothing back (and
/// nothing is written), and the transaction of `ops::rotate_refresh_token` then tells a retry from
/// a replay. The conformance suite checks the successor on both stores.
macro_rules! rotate_live {
    ($($part:expr),*) => {
        Sql::per_backend(
            "SELECT 'PostgreSQL only'",
            concat!(
                "WITH old AS (",
                rotate!(),
                refresh_cols!(),
                "), successor AS (INSERT INTO refresh_tokens (",
                refresh_cols!(),
                ") SELECT ?3, family_id, client_id, subject, scope, claims, auth_time, session_id, ?2,
                          CAST(?4 AS BIGINT), audience, family_expires_at, COALESCE(dpop_jkt, ?5)
                   FROM old)",
                $($part,)*
                " SELECT ",
                refresh_cols!(),
                " FROM old"
            ),
        )
    };
}
/// [`rotate_live!`]: the rotation alone.
pub(crate) static ROTATE_LIVE: Sql = rotate_live!();
/// [`rotate_live!`] that also stores the access token issued with the successor, parameters 6 to
/// 17 as [`access_params`]: written only when the token was live, in the same commit.
pub(crate) static ROTATE_LIVE_ISSUING: Sql = rotate_live!(
    ", issued AS (INSERT INTO access_tokens (",
    access_cols!(),
    ") SELECT CAST(?6 AS BYTEA), CAST(?7 AS TEXT), CAST(?8 AS TEXT), CAST(?9 AS TEXT), CAST(?10 AS TEXT),
              CAST(?11 AS TEXT), CAST(?12 AS BIGINT), CAST(?13 AS BIGINT), CAST(?14 AS BIGINT),
              CAST(?15 AS TEXT), CAST(?16 AS TEXT), CAST(?17 AS TEXT)
       FROM old)"
);
/// `(hash)`: a token rotated before: `family_id, client_id, rotated_at, rotated_to`.
pub(crate) static ROTATED: Sql = Sql::new(
    "SELECT family_id, client_id, rotated_at, rotated_to FROM refresh_tokens
     WHERE hash = ?1 AND rotated_at IS NOT NULL",
);
/// `(hash, client_id)`: the family of a refresh token of this client, rotated or not.
pub(crate) static FAMILY: Sql = Sql::new("SELECT family_id FROM refresh_tokens WHERE hash = ?1 AND client_id = ?2");

/// Revoking a grant, `(grant_id, now)`: the record every token read checks, then its access and
/// refresh tokens (counted).
pub(crate) static REVOKE_GRANT: Sql =
    Sql::new("INSERT INTO revoked_grants (grant_id, revoked_at) VALUES (?1, ?2) ON CONFLICT (grant_id) DO NOTHING");
pub(crate) static REVOKE_GRANT_TOKENS: [Sql; 2] = [
    Sql::new("UPDATE access_tokens SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL"),
    Sql::new("UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL"),
];

/// Revoking a JWT access token (RFC 7009), which is never stored: `(hash of its jti, expires_at)`.
pub(crate) static REVOKE_JWT: Sql =
    Sql::new("INSERT INTO revoked_access (hash, expires_at) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING");
/// Whether a JWT access token is revoked, `(hash of its jti, grant_id, subject, issued_ms,
/// client_id)`: by its `jti`; as a token stored before JWTs stopped being stored; by its grant (a
/// code replayed, a refresh family revoked, a session ended); by its user's tokens ending
/// (lockout, password change) at or after it was issued; or by its user or client being deleted.
pub(crate) static JWT_REVOKED: Sql = Sql::new(
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM revoked_access WHERE hash = ?1)
     OR EXISTS (SELECT 1 FROM access_tokens WHERE hash = ?1 AND revoked_at IS NOT NULL)
     OR EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = ?2)
     OR EXISTS (SELECT 1 FROM revoked_subjects WHERE subject = ?3 AND revoked_at_ms >= ?4)
     OR (CAST(?3 AS TEXT) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users WHERE id = ?3))
     OR NOT EXISTS (SELECT 1 FROM clients WHERE id = ?5)",
);

/// SQLite: how many times something that revokes a JWT access token happened (migration 016's
/// triggers), read before each revocation check that may be answered from the cache.
pub(crate) static REVOCATION_CHANGES: Sql = Sql::new("SELECT n FROM revocation_changes");

/// The parameters of [`JWT_REVOKED`].
pub(crate) fn jwt_revoked_params(t: &AccessTokenRecord, issued_ms: i64) -> [Value<'_>; 5] {
    values![
        &t.hash,
        t.grant_id.as_deref(),
        t.subject.as_deref(),
        issued_ms,
        t.client_id.as_str()
    ]
}

/// The columns of an access token, in [`access_cols!`] order.
pub(crate) fn access_params(t: &AccessTokenRecord) -> StoreResult<[Value<'_>; 12]> {
    Ok(values![
        &t.hash,
        t.client_id.as_str(),
        &t.grant_id,
        &t.subject,
        t.scope.to_param(),
        to_json(&t.claims)?,
        t.auth_time,
        t.issued_at,
        t.expires_at,
        to_json(&t.audience)?,
        t.format.as_str(),
        t.dpop_jkt.as_deref(),
    ])
}

/// The columns of a refresh token, in [`refresh_cols!`] order.
pub(crate) fn refresh_params(t: &RefreshTokenRecord) -> StoreResult<[Value<'_>; 13]> {
    Ok(values![
        &t.hash,
        &t.family_id,
        t.client_id.as_str(),
        &t.subject,
        t.scope.to_param(),
        to_json(&t.claims)?,
        t.auth_time,
        &t.session_id,
        t.issued_at,
        t.expires_at,
        to_json(&t.audience)?,
        t.family_expires_at,
        t.dpop_jkt.as_deref(),
    ])
}
