//! Numbered schema migrations of the embedded store; `PRAGMA user_version` records how many are
//! applied. They are applied in one IMMEDIATE transaction, which takes the write lock first, so a
//! CLI and a server starting together migrate once.
//!
//! The embedded schema has no index on `client_id` (PostgreSQL has `consents_client`,
//! `codes_client`, `access_tokens_client`, `refresh_tokens_client`) nor on
//! `browser_sessions.user_id` (`browser_sessions_user`): each would cost every insert an index
//! write on the single writer, while they serve only deleting a client or a user's sessions, rare
//! administrative operations a table scan answers well enough on one node.

use super::DB_FILE;
use crate::error::StoreError;
use crate::model::MigrationStatus;
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Every migration, in order: (name, SQL).
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    ("001_init", include_str!("migrations/001_init.sql")),
    (
        "002_token_lifecycle",
        include_str!("migrations/002_token_lifecycle.sql"),
    ),
    ("003_lockout", include_str!("migrations/003_lockout.sql")),
    ("004_key_rotation", include_str!("migrations/004_key_rotation.sql")),
    ("005_token_indexes", include_str!("migrations/005_token_indexes.sql")),
    ("006_hardening", include_str!("migrations/006_hardening.sql")),
    ("007_logout", include_str!("migrations/007_logout.sql")),
    ("008_device", include_str!("migrations/008_device.sql")),
    ("009_replay", include_str!("migrations/009_replay.sql")),
    ("010_client_keys", include_str!("migrations/010_client_keys.sql")),
    ("011_client_intake", include_str!("migrations/011_client_intake.sql")),
    ("012_dpop", include_str!("migrations/012_dpop.sql")),
    ("013_registration", include_str!("migrations/013_registration.sql")),
    (
        "014_self_contained_access_tokens",
        include_str!("migrations/014_self_contained_access_tokens.sql"),
    ),
    ("015_client_changes", include_str!("migrations/015_client_changes.sql")),
    (
        "016_revocation_changes",
        include_str!("migrations/016_revocation_changes.sql"),
    ),
    (
        "017_refresh_token_indexes",
        include_str!("migrations/017_refresh_token_indexes.sql"),
    ),
];

/// Applied and pending migrations of the store in `dir`, without changing it.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn migration_status(dir: &Path) -> Result<MigrationStatus, StoreError> {
    let path = dir.join(DB_FILE);
    let applied: i64 = if path.exists() {
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_query_value(None, "user_version", |r| r.get(0))?
    } else {
        0
    };
    let applied = usize::try_from(applied).unwrap_or(0).min(MIGRATIONS.len());
    let names = |m: &[(&str, &str)]| m.iter().map(|(n, _)| (*n).to_owned()).collect();
    Ok(MigrationStatus {
        applied: names(&MIGRATIONS[..applied]),
        pending: names(&MIGRATIONS[applied..]),
    })
}

/// Applies pending migrations; with `apply` false, refuses a store with pending migrations.
pub(super) fn migrate(conn: &mut Connection, apply: bool) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let applied: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the database schema is version {applied} but this gatehouse knows only {}; upgrade gatehouse",
            MIGRATIONS.len()
        )));
    }
    if !apply && applied < MIGRATIONS.len() {
        let pending: Vec<&str> = MIGRATIONS[applied..].iter().map(|(n, _)| *n).collect();
        return Err(StoreError::Internal(format!(
            "GATEHOUSE_AUTO_MIGRATE=false and migrations are pending: {}; run gatehouse migrate",
            pending.join(", ")
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Internal(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))?;
    }
    Ok(tx.commit()?)
}

#[cfg(test)]
mod tests {
    /// SQLite's query plan for `sql` on a freshly migrated store, its steps joined.
    fn plan(sql: &str) -> String {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        drop(super::super::SqliteStore::open(&dir).unwrap());
        let conn = rusqlite::Connection::open(dir.join(super::DB_FILE)).unwrap();
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; statement.parameter_count()];
        let steps = statement.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3));
        steps.unwrap().map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    /// The partial session index (migration 017) serves the query it exists for: a logout finding
    /// the session's online refresh families searches the index, not the whole table. Its predicate
    /// must stay the query's own term, written identically, or SQLite silently stops using it.
    #[test]
    fn a_logout_finds_online_families_through_the_session_index() {
        let plan = plan(crate::sql::logouts::ONLINE_FAMILIES.sqlite());
        assert!(plan.contains("USING INDEX refresh_tokens_session"), "{plan}");
    }

    /// Cleanup still finds revoked refresh tokens through the (since 017 partial) revoked index.
    #[test]
    fn cleanup_finds_revoked_refresh_tokens_through_their_index() {
        let refresh = crate::sql::CLEANUP
            .iter()
            .find(|j| j.sql.sqlite().starts_with("DELETE FROM refresh_tokens"))
            .unwrap();
        let plan = plan(refresh.sql.sqlite());
        assert!(plan.contains("USING INDEX refresh_tokens_revoked"), "{plan}");
    }
}
