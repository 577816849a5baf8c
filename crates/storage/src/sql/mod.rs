//! Every SQL statement of both backends, written once and grouped by concern.
//!
//! Statements use SQLite's numbered placeholders (`?1`, `?2`, …). PostgreSQL gets each statement
//! translated to `$1`, `$2`, … the first time it is used, and keeps the translation (see [`Sql`]);
//! both drivers then cache the prepared statement per connection, so a hot path never builds SQL.
//!
//! The text is portable where the dialects allow it: `builtin = FALSE` rather than `NOT builtin`,
//! `CAST(?2 AS BIGINT)` wherever PostgreSQL could not infer a parameter's type from a column.
//! The two statements that must differ (JSON access) are one [`Sql`] with a PostgreSQL variant,
//! side by side. Parameters are [`Value`]s, bound by either driver, so each parameter list is
//! written once too (in the concern's file, next to its statements).

pub(crate) mod clients;
pub(crate) mod codes;
pub(crate) mod consents;
pub(crate) mod devices;
pub(crate) mod intake;
pub(crate) mod keys;
pub(crate) mod lockouts;
pub(crate) mod logouts;
pub(crate) mod replays;
pub(crate) mod scopes;
pub(crate) mod sessions;
pub(crate) mod tokens;
pub(crate) mod users;
mod value;

use crate::model::CleanupReport;
use std::sync::OnceLock;
pub(crate) use value::Value;

/// One statement: its SQLite text, optionally a PostgreSQL variant, and the PostgreSQL
/// translation made once on first use.
pub(crate) struct Sql {
    sqlite: &'static str,
    postgres: Option<&'static str>,
    translated: OnceLock<String>,
}

impl Sql {
    /// A statement both backends run as written.
    pub(crate) const fn new(text: &'static str) -> Self {
        Self {
            sqlite: text,
            postgres: None,
            translated: OnceLock::new(),
        }
    }

    /// A statement whose PostgreSQL form differs (both still use `?N` placeholders).
    pub(crate) const fn per_backend(sqlite: &'static str, postgres: &'static str) -> Self {
        Self {
            sqlite,
            postgres: Some(postgres),
            translated: OnceLock::new(),
        }
    }

    /// The text for SQLite.
    pub(crate) fn sqlite(&self) -> &'static str {
        self.sqlite
    }

    /// The text for PostgreSQL, `?N` placeholders turned into `$N` (translated once).
    pub(crate) fn postgres(&self) -> &str {
        self.translated
            .get_or_init(|| dollar_placeholders(self.postgres.unwrap_or(self.sqlite)))
    }
}

/// `?N` → `$N`. No statement has a `?` inside a string literal.
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// Builds a parameter array: `values![a, b]` is `[Value::from(a), Value::from(b)]`.
macro_rules! values {
    ($($v:expr),* $(,)?) => { [$($crate::sql::Value::from($v)),*] };
}
pub(crate) use values;

/// The column lists the record decoders in [`crate::decode`] read, in their order, and (with
/// `placeholders`) the placeholders of a statement that inserts them all.
macro_rules! client_cols {
    () => {
        "id, name, secret_hash, auth_method, redirect_uris, grant_types, scopes, id_token_alg, created_at, access_token_format, resources, introspect, post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required, jwks, token_endpoint_auth_signing_alg, strict_assertion_audience, jwks_uri, request_object_signing_alg, require_pushed_authorization_requests, require_signed_request_object, dpop_bound_access_tokens, origin, registration_token_hash, registration_policy, about, userinfo_signed_response_alg, default_max_age, require_auth_time, secret_set_at, last_used_at"
    };
    (placeholders) => {
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32"
    };
}
macro_rules! user_cols {
    () => {
        "id, username, email, email_verified, name, password_hash, locked, created_at, updated_at"
    };
    (placeholders) => {
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9"
    };
}
macro_rules! session_cols {
    () => {
        "token_hash, sid, user_id, auth_time, expires_at"
    };
    (placeholders) => {
        "?1, ?2, ?3, ?4, ?5"
    };
}
macro_rules! interaction_cols {
    () => {
        "id, csrf_hash, browser_hash, request, login, expires_at"
    };
    (placeholders) => {
        "?1, ?2, ?3, ?4, ?5, ?6"
    };
}
macro_rules! access_cols {
    () => {
        "hash, client_id, grant_id, subject, scope, claims, auth_time, issued_at, expires_at, audience, format, dpop_jkt"
    };
    (placeholders) => {
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12"
    };
}
macro_rules! refresh_cols {
    () => {
        "hash, family_id, client_id, subject, scope, claims, auth_time, session_id, issued_at, expires_at, audience, family_expires_at, dpop_jkt"
    };
    (placeholders) => {
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13"
    };
}
macro_rules! key_cols {
    () => {
        "kid, alg, private_der, created_at, activates_at, retires_at"
    };
    (placeholders) => {
        "?1, ?2, ?3, ?4, ?5, ?6"
    };
}
pub(crate) use {access_cols, client_cols, interaction_cols, key_cols, refresh_cols, session_cols, user_cols};

/// `select!(cols, " FROM …")`: a statement that selects a record's columns (`cols` is one of the
/// macros above) in its decoder's order.
macro_rules! select {
    ($cols:ident, $rest:literal) => {
        $crate::sql::Sql::new(concat!("SELECT ", $cols!(), $rest))
    };
}
/// `insert!("table", cols)`: a statement that inserts every column of a record (`?1` to `?N`).
macro_rules! insert {
    ($table:literal, $cols:ident) => {
        $crate::sql::Sql::new(concat!(
            "INSERT INTO ",
            $table,
            " (",
            $cols!(),
            ") VALUES (",
            $cols!(placeholders),
            ")"
        ))
    };
}
pub(crate) use {insert, select};

/// A cheap round trip.
pub(crate) static PING: Sql = Sql::new("SELECT 1");
/// PostgreSQL only: the database server's clock.
pub(crate) static CLOCK: Sql = Sql::new("SELECT extract(epoch FROM clock_timestamp())::float8");

/// One kind of row cleanup deletes: a statement taking `(now, revoked_before, batch)` that deletes
/// at most `batch` rows, and the report field it counts into.
pub(crate) struct CleanupJob {
    pub(crate) sql: Sql,
    pub(crate) count: fn(&mut CleanupReport) -> &mut u64,
}

/// `DELETE FROM table WHERE key IN (SELECT key FROM table WHERE condition LIMIT ?3)`, counted into
/// the report field named like the table unless another is named last. `?2` appears in every
/// statement so that all take the same three parameters (PostgreSQL must type each).
macro_rules! cleanup {
    ($table:ident, $key:ident, $condition:literal) => {
        cleanup!($table, $key, $condition, $table)
    };
    ($table:ident, $key:ident, $condition:literal, $field:ident) => {
        CleanupJob {
            sql: Sql::new(concat!(
                "DELETE FROM ",
                stringify!($table),
                " WHERE ",
                stringify!($key),
                " IN (SELECT ",
                stringify!($key),
                " FROM ",
                stringify!($table),
                " WHERE CAST(?2 AS BIGINT) IS NOT NULL AND (",
                $condition,
                ") LIMIT ?3)"
            )),
            count: |r| &mut r.$field,
        }
    };
}

/// What cleanup deletes, in order. One short statement per batch, so it never holds locks long.
pub(crate) static CLEANUP: [CleanupJob; 15] = [
    cleanup!(codes, hash, "(consumed_at IS NULL AND expires_at <= ?1) OR consumed_at <= ?2"),
    cleanup!(access_tokens, hash, "expires_at <= ?1 OR revoked_at <= ?2"),
    cleanup!(revoked_access, hash, "expires_at <= ?1", access_tokens),
    cleanup!(refresh_tokens, hash, "expires_at <= ?1 OR family_expires_at <= ?1 OR revoked_at <= ?2"),
    cleanup!(browser_sessions, token_hash, "expires_at <= ?1", sessions),
    cleanup!(interactions, id, "expires_at <= ?1"),
    cleanup!(login_failures, username, "window_start <= ?2 AND (locked_until IS NULL OR locked_until <= ?1)"),
    // Kept while any token of the grant could still be read as live.
    cleanup!(
        revoked_grants,
        grant_id,
        "CAST(?1 AS BIGINT) IS NOT NULL AND revoked_at <= ?2
         AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = revoked_grants.grant_id AND a.revoked_at IS NULL)
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = revoked_grants.grant_id AND r.revoked_at IS NULL)"
    ),
    // Sessions that expired (expiry is not a logout: nobody is notified) or were replaced.
    cleanup!(
        session_clients,
        sid,
        "CAST(?1 AS BIGINT) IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM browser_sessions s WHERE s.sid = session_clients.sid)"
    ),
    cleanup!(
        logout_outbox,
        id,
        "CAST(?1 AS BIGINT) IS NOT NULL AND gave_up_at <= ?2",
        logout_notices
    ),
    // Kept past expiry for the retention, so a late poll still hears expired_token.
    cleanup!(device_codes, hash, "CAST(?1 AS BIGINT) IS NOT NULL AND expires_at <= ?2"),
    cleanup!(device_guesses, address, "CAST(?1 AS BIGINT) IS NOT NULL AND window_start <= ?2", device_codes),
    cleanup!(seen_values, id, "expires_at <= ?1", seen_values),
    cleanup!(pushed_requests, hash, "expires_at <= ?1"),
    cleanup!(initial_access_tokens, hash, "expires_at <= ?1 OR uses_left = 0"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            super::dollar_placeholders("a = ?1 AND b = ?12 OR c = '?'"),
            "a = $1 AND b = $12 OR c = '?'"
        );
    }
}
