//! Opening the configured store: PostgreSQL when `DATABASE_URL` is set, else the embedded SQLite
//! file in the data directory. Both apply pending migrations unless told not to.

use crate::config::Config;
use anyhow::{Context, bail};
use gatehouse_storage::Store;
use gatehouse_storage::postgres::PgStore;
use gatehouse_storage::sqlite::{self, SqliteStore};
use std::sync::Arc;

/// Opens the store. With `GATEHOUSE_AUTO_MIGRATE=false` a store with pending migrations is refused,
/// naming them.
///
/// # Errors
/// When the store cannot be opened or migrated, naming the setting to look at.
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_with(config, false).await
}

/// Opens the store for `gatehouse serve`: as [`open`], and on PostgreSQL client records and "not
/// revoked" answers are cached, kept current by LISTEN/NOTIFY (the CLI reads them afresh).
///
/// # Errors
/// As [`open`].
pub async fn open_for_serving(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_with(config, true).await
}

async fn open_with(config: &Config, serving: bool) -> anyhow::Result<Arc<dyn Store>> {
    match &config.database {
        Some(settings) => {
            let pg = PgStore::connect(settings).context("DATABASE_URL")?;
            if config.auto_migrate {
                let applied = pg.migrate().await.context("DATABASE_URL: cannot apply migrations")?;
                for name in applied {
                    tracing::info!(migration = %name, "applied migration");
                }
            } else {
                let status = pg
                    .migration_status()
                    .await
                    .context("DATABASE_URL: cannot read the migration status")?;
                if !status.pending.is_empty() {
                    bail!(
                        "GATEHOUSE_AUTO_MIGRATE=false and migrations are pending: {}; run gatehouse migrate",
                        status.pending.join(", ")
                    );
                }
            }
            if serving {
                pg.start_caches();
            }
            Ok(Arc::new(pg))
        }
        None => {
            let store = SqliteStore::open_with(&config.data_dir, config.auto_migrate).context("GATEHOUSE_DATA_DIR")?;
            Ok(Arc::new(store))
        }
    }
}

/// `(applied, pending)` migration names of the configured store, without changing it.
///
/// # Errors
/// When the store cannot be read.
pub async fn migration_status(config: &Config) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    match &config.database {
        Some(settings) => {
            let s = PgStore::connect(settings)?
                .migration_status()
                .await
                .context("DATABASE_URL")?;
            Ok((s.applied, s.pending))
        }
        None => {
            let s = sqlite::migration_status(&config.data_dir).context("GATEHOUSE_DATA_DIR")?;
            Ok((s.applied, s.pending))
        }
    }
}

/// Applies pending migrations; returns the names applied now.
///
/// # Errors
/// When the store cannot be migrated.
pub async fn migrate(config: &Config) -> anyhow::Result<Vec<String>> {
    match &config.database {
        Some(settings) => Ok(PgStore::connect(settings)?.migrate().await.context("DATABASE_URL")?),
        None => {
            let pending = sqlite::migration_status(&config.data_dir)?.pending;
            SqliteStore::open(&config.data_dir).context("GATEHOUSE_DATA_DIR")?;
            Ok(pending)
        }
    }
}
