//! The store probe behind the health endpoints (`/ready`, `/health/detailed`): one shared ping
//! and a cached migration status, so a flood of unauthenticated health checks stays one query.

use crate::config::Config;
use gatehouse_storage::Store;
use std::time::{Duration, Instant};

/// What one probe of the store found.
#[derive(Clone)]
pub struct StoreCheck {
    /// The store answered the ping.
    pub reachable: bool,
    /// How long the ping took.
    pub latency: Duration,
    /// Why the store is not reachable (first line of the driver's message, no secrets).
    pub error: Option<String>,
    /// Migrations this binary has that the store lacks.
    pub pending: Vec<String>,
    /// Migrations the store has.
    pub applied: Vec<String>,
    /// The database's clock, where it has one (read in the same shared check).
    pub db_time: Option<f64>,
}

/// How long a migration status read stays good. Pending migrations change only when an operator
/// runs `gatehouse migrate` (with a newer binary), so once a minute is plenty.
const MIGRATIONS_TTL: Duration = Duration::from_secs(60);

/// `(applied, pending)` migration names.
type Migrations = (Vec<String>, Vec<String>);

/// Health checks are unauthenticated, so a flood of them must not turn into a flood of database
/// work: concurrent checks share one ping (a request waits for the ping in flight and takes its
/// result if that ping started after the request arrived, so an answer is never stale), the ping
/// runs on the running pool, and migration status is read at most once per [`MIGRATIONS_TTL`].
#[derive(Default)]
pub struct HealthCache {
    // A tokio mutex: held across the ping on purpose, which is what makes checks share it.
    last: tokio::sync::Mutex<Option<(Instant, StoreCheck)>>,
    // A std mutex: held to read or replace the value only.
    migrations: std::sync::Mutex<Option<(Instant, Migrations)>>,
}

impl HealthCache {
    /// Probes the store, or shares the probe in flight (see [`HealthCache`]).
    pub async fn check(&self, store: &dyn Store, config: &Config) -> StoreCheck {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((started, check)) = last.as_ref()
            && *started >= arrived
        {
            return check.clone();
        }
        let started = Instant::now();
        let ping = tokio::time::timeout(Duration::from_secs(3), store.ping()).await;
        let latency = started.elapsed();
        let error = match ping {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("store unreachable: {}", brief(&e.to_string()))),
            Err(_) => Some("store did not answer within 3 s".to_owned()),
        };
        let (applied, pending) = if error.is_none() {
            self.migrations(config).await
        } else {
            (Vec::new(), Vec::new())
        };
        let db_time = if error.is_none() {
            store.clock().await.ok().flatten()
        } else {
            None
        };
        let check = StoreCheck {
            reachable: error.is_none(),
            latency,
            error,
            pending,
            applied,
            db_time,
        };
        *last = Some((started, check.clone()));
        check
    }

    async fn migrations(&self, config: &Config) -> Migrations {
        let cached = self.migrations.lock().ok().and_then(|m| {
            m.as_ref()
                .filter(|(at, _)| at.elapsed() < MIGRATIONS_TTL)
                .map(|(_, found)| found.clone())
        });
        if let Some(found) = cached {
            return found;
        }
        let (applied, pending) = crate::store::migration_status(config).await.unwrap_or_default();
        if let Ok(mut m) = self.migrations.lock() {
            *m = Some((Instant::now(), (applied.clone(), pending.clone())));
        }
        (applied, pending)
    }
}

/// Error text without anything that could be a secret (URLs with credentials never reach here,
/// but cut long driver messages to their first line anyway).
fn brief(text: &str) -> String {
    text.lines().next().unwrap_or("").chars().take(200).collect()
}
