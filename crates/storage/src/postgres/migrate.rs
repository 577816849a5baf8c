//! Numbered SQL migrations from `migrations/`, applied in one transaction under an advisory lock,
//! so several instances starting at once apply each migration exactly once.
//!
//! This schema has five indexes the embedded one lacks (`consents_client`, `codes_client`,
//! `access_tokens_client`, `refresh_tokens_client`, `browser_sessions_user`): deleting a client or
//! a user's sessions should not scan a table shared by many instances. The embedded store leaves
//! them out on purpose, see `sqlite/migrate.rs`.

use super::{PgStore, pg_err};
use crate::error::StoreError;
use crate::model::MigrationStatus;

/// Every migration, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "0001_init", include_str!("../../../../migrations/0001_init.sql")),
    (
        2,
        "0002_token_lifecycle",
        include_str!("../../../../migrations/0002_token_lifecycle.sql"),
    ),
    (
        3,
        "0003_lockout",
        include_str!("../../../../migrations/0003_lockout.sql"),
    ),
    (
        4,
        "0004_key_rotation",
        include_str!("../../../../migrations/0004_key_rotation.sql"),
    ),
    (
        5,
        "0005_token_indexes",
        include_str!("../../../../migrations/0005_token_indexes.sql"),
    ),
    (
        6,
        "0006_hardening",
        include_str!("../../../../migrations/0006_hardening.sql"),
    ),
    (7, "0007_logout", include_str!("../../../../migrations/0007_logout.sql")),
    (8, "0008_device", include_str!("../../../../migrations/0008_device.sql")),
    (9, "0009_replay", include_str!("../../../../migrations/0009_replay.sql")),
    (
        10,
        "0010_client_keys",
        include_str!("../../../../migrations/0010_client_keys.sql"),
    ),
    (
        11,
        "0011_client_intake",
        include_str!("../../../../migrations/0011_client_intake.sql"),
    ),
    (12, "0012_dpop", include_str!("../../../../migrations/0012_dpop.sql")),
    (
        13,
        "0013_registration",
        include_str!("../../../../migrations/0013_registration.sql"),
    ),
    (
        14,
        "0014_self_contained_access_tokens",
        include_str!("../../../../migrations/0014_self_contained_access_tokens.sql"),
    ),
    (
        15,
        "0015_revocation_changes",
        include_str!("../../../../migrations/0015_revocation_changes.sql"),
    ),
    (
        16,
        "0016_refresh_token_indexes",
        include_str!("../../../../migrations/0016_refresh_token_indexes.sql"),
    ),
];

/// An arbitrary constant that names Gatehouse's migration lock.
const LOCK_KEY: i64 = 0x6761_7465_686f_7573;

impl PgStore {
    /// `(max_connections, reserved connections (superuser and, from PostgreSQL 16, the
    /// `pg_use_reserved_connections` ones), client connections open now)`, for
    /// `gatehouse doctor`'s connection budget.
    ///
    /// # Errors
    /// Store errors.
    pub async fn connection_budget(&self) -> Result<(i64, i64, i64), StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT current_setting('max_connections')::bigint,
                            current_setting('superuser_reserved_connections')::bigint
                              + COALESCE(current_setting('reserved_connections', true)::bigint, 0),
                            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
                &[],
            )
            .await
            .map_err(super::pg_err)?;
        Ok((row.get(0), row.get(1), row.get(2)))
    }

    /// Which migrations are applied and which are pending.
    ///
    /// # Errors
    /// Store errors; `Internal` when the database has migrations this build does not know.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let client = self.client().await?;
        let exists: Option<String> = client
            .query_one("SELECT to_regclass('gatehouse_migrations')::text", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        let applied: Vec<i32> = if exists.is_some() {
            client
                .query("SELECT version FROM gatehouse_migrations ORDER BY version", &[])
                .await
                .map_err(pg_err)?
                .iter()
                .map(|r| r.get(0))
                .collect()
        } else {
            Vec::new()
        };
        status_of(&applied)
    }

    /// Applies pending migrations; returns the names applied now.
    ///
    /// # Errors
    /// Store errors; a failed migration rolls back entirely.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await
            .map_err(pg_err)?;
        // Without the SET, PostgreSQL's notice that the table exists would be logged by every
        // command that opens the store.
        tx.batch_execute(
            "SET LOCAL client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS gatehouse_migrations (
                version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg_err)?;
        let applied: Vec<i32> = tx
            .query("SELECT version FROM gatehouse_migrations", &[])
            .await
            .map_err(pg_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        status_of(&applied)?;
        let mut done = Vec::new();
        for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| !applied.contains(v)) {
            tx.batch_execute(sql)
                .await
                .map_err(|e| StoreError::Internal(format!("migration {name} failed: {e}")))?;
            tx.execute(
                "INSERT INTO gatehouse_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await
            .map_err(pg_err)?;
            done.push((*name).to_owned());
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(done)
    }
}

fn status_of(applied: &[i32]) -> Result<MigrationStatus, StoreError> {
    if let Some(unknown) = applied.iter().find(|v| !MIGRATIONS.iter().any(|(m, _, _)| m == *v)) {
        return Err(StoreError::Internal(format!(
            "the database has migration {unknown}, which this gatehouse does not know; upgrade gatehouse"
        )));
    }
    let (done, pending): (Vec<_>, Vec<_>) = MIGRATIONS.iter().partition(|(v, _, _)| applied.contains(v));
    Ok(MigrationStatus {
        applied: done.iter().map(|(_, n, _)| (*n).to_owned()).collect(),
        pending: pending.iter().map(|(_, n, _)| (*n).to_owned()).collect(),
    })
}
