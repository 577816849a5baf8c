//! Checks of the store: reachable, how fast, migrations, PostgreSQL's connection budget and clock,
//! the embedded store's write-ahead log and disk. The store is opened without migrating.

use super::{Finding, Options};
use crate::config::Config;
use gatehouse_storage::Store;
use gatehouse_storage::postgres::PgStore;
use gatehouse_storage::sqlite::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far the database's clock may be from this host's before tokens look expired or not yet
/// valid to one side: the smallest time window a token check allows (a DPoP proof's `iat`).
const CLOCK_TOLERANCE: Duration = Duration::from_secs(60);

/// Runs the store checks; the store, when it can be used for the checks that follow.
pub(super) async fn check(config: &Config, options: &Options, out: &mut Vec<Finding>) -> Option<Arc<dyn Store>> {
    let (applied, pending) = match crate::store::migration_status(config).await {
        Ok(status) => status,
        Err(e) => {
            out.push(unreachable(config, &format!("{e:#}")));
            return None;
        }
    };
    let (store, pg): (Arc<dyn Store>, Option<PgStore>) = match &config.database {
        Some(settings) => match PgStore::connect(settings) {
            Ok(pg) => (Arc::new(pg.clone()), Some(pg)),
            Err(e) => {
                out.push(unreachable(config, &e.to_string()));
                return None;
            }
        },
        None if !config.data_dir.join(gatehouse_storage::sqlite::DB_FILE).exists() => {
            out.push(Finding::warn(
                "store.reachable",
                format!("there is no store in {} yet", config.data_dir.display()),
                "the embedded store is created by the first start of the server; until then nothing else can be checked (or this is not the server's GATEHOUSE_DATA_DIR)",
                "start the server once (gatehouse serve), or run doctor with the server's GATEHOUSE_DATA_DIR",
            ));
            return None;
        }
        None if !pending.is_empty() => {
            out.push(migrations(&applied, &pending));
            return None;
        }
        None => match SqliteStore::open_with(&config.data_dir, false) {
            Ok(s) => (Arc::new(s), None),
            Err(e) => {
                out.push(unreachable(config, &e.to_string()));
                return None;
            }
        },
    };
    let started = Instant::now();
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), store.ping())
        .await
        .unwrap_or_else(|_| {
            Err(gatehouse_storage::StoreError::Unavailable(
                "no answer within 5 s".into(),
            ))
        })
    {
        out.push(unreachable(config, &e.to_string()));
        return None;
    }
    out.push(latency(started.elapsed(), store.kind()));
    out.push(migrations(&applied, &pending));
    if let (Some(pg), Some(settings)) = (&pg, &config.database) {
        out.push(connections(pg, settings.pool_max, options.instances).await);
        out.push(clock(store.as_ref()).await);
    } else {
        out.push(wal(config));
    }
    pending.is_empty().then_some(store)
}

fn unreachable(config: &Config, error: &str) -> Finding {
    let (what, fix) = if config.database.is_some() {
        ("PostgreSQL", super::fixes::POSTGRES_UNREACHABLE)
    } else {
        ("the embedded store", super::fixes::SQLITE_UNREACHABLE)
    };
    Finding::fail(
        "store.reachable",
        format!("{what} cannot be reached: {error}"),
        "nothing works without the store: every sign-in and token request fails with 503",
        fix,
    )
}

fn latency(took: Duration, kind: &str) -> Finding {
    let ms = took.as_secs_f64() * 1000.0;
    if took > Duration::from_millis(100) {
        return Finding::warn(
            "store.latency",
            format!("the {kind} store took {ms:.1} ms to answer a ping"),
            "every token request makes at least one round trip; slow round trips are slow logins",
            super::fixes::LATENCY,
        );
    }
    Finding::ok(
        "store.latency",
        format!("{kind} store reachable, round trip {ms:.1} ms"),
    )
}

fn migrations(applied: &[String], pending: &[String]) -> Finding {
    if pending.is_empty() {
        return Finding::ok(
            "store.migrations",
            format!("schema up to date ({} migrations)", applied.len()),
        );
    }
    Finding::fail(
        "store.migrations",
        format!("migrations pending: {}", pending.join(", ")),
        "instances started with GATEHOUSE_AUTO_MIGRATE=false refuse to start, and /ready answers 503, until they are applied",
        super::fixes::MIGRATE,
    )
}

/// Per instance: the main pool, the token-insert pool (a quarter), and the LISTEN connection.
fn per_instance(pool_max: usize) -> usize {
    pool_max + pool_max.div_ceil(4) + 1
}

async fn connections(pg: &PgStore, pool_max: usize, instances: u32) -> Finding {
    const ID: &str = "store.connections";
    let (max, reserved, in_use) = match pg.connection_budget().await {
        Ok(b) => b,
        Err(e) => {
            return Finding::warn(
                ID,
                format!("cannot read max_connections: {e}"),
                "the connection budget could not be checked",
                "grant the database user pg_read_all_settings, or check SHOW max_connections by hand",
            );
        }
    };
    let available = usize::try_from(max - reserved).unwrap_or(0);
    let needed = per_instance(pool_max) * instances.max(1) as usize;
    let summary = format!(
        "{instances} instance(s) x {} connections = {needed}; PostgreSQL allows {available} ({max} max_connections - {reserved} reserved), {in_use} in use now",
        per_instance(pool_max)
    );
    if needed > available {
        return Finding::fail(
            ID,
            summary,
            "under load the pools open more connections than PostgreSQL accepts: requests fail with 503 (too many clients already)",
            format!(
                "lower GATEHOUSE_DB_POOL_MAX to {} or raise max_connections to at least {} (ALTER SYSTEM SET max_connections = {}; restart PostgreSQL)",
                ((available / instances.max(1) as usize).saturating_sub(1) * 4 / 5).max(1),
                needed + usize::try_from(reserved).unwrap_or(0),
                needed + usize::try_from(reserved).unwrap_or(0)
            ),
        );
    }
    Finding::ok(ID, summary)
}

async fn clock(store: &dyn Store) -> Finding {
    const ID: &str = "store.clock";
    let Ok(Some(db)) = store.clock().await else {
        return Finding::ok(ID, "the store has no clock of its own");
    };
    let here = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let skew = here - db;
    let summary = format!(
        "the database clock is {:.1} s {} this host's",
        skew.abs(),
        if skew > 0.0 { "behind" } else { "ahead of" }
    );
    if skew.abs() > CLOCK_TOLERANCE.as_secs_f64() {
        return Finding::fail(
            ID,
            summary,
            "tokens will look expired or not yet valid: times written by one clock are judged by the other",
            super::fixes::CLOCK,
        );
    }
    if skew.abs() > 5.0 {
        return Finding::warn(
            ID,
            summary,
            "close to the tolerance of token checks; a little more drift and tokens look expired",
            super::fixes::CLOCK,
        );
    }
    Finding::ok(ID, summary)
}

fn wal(config: &Config) -> Finding {
    const ID: &str = "store.disk";
    let wal = config
        .data_dir
        .join(format!("{}-wal", gatehouse_storage::sqlite::DB_FILE));
    let wal_mb = std::fs::metadata(&wal).map_or(0, |m| m.len()) / (1024 * 1024);
    let free_mb = rustix::fs::statvfs(&config.data_dir)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize) / (1024 * 1024))
        .ok();
    let summary = format!(
        "write-ahead log {wal_mb} MiB; {} free on {}",
        free_mb.map_or_else(|| "unknown".to_owned(), |f| format!("{f} MiB")),
        config.data_dir.display()
    );
    if free_mb.is_some_and(|f| f < 512) {
        return Finding::fail(
            ID,
            summary,
            "a full disk stops every write: sign-ins, tokens and rotations fail",
            format!("free space on the file system of {}", config.data_dir.display()),
        );
    }
    if wal_mb > 256 {
        return Finding::warn(
            ID,
            summary,
            "the log is checkpointed into the database continuously; a large one means a reader held it open for long",
            "look for a long-running process reading the database (a backup tool); restart the server to checkpoint",
        );
    }
    Finding::ok(ID, summary)
}
