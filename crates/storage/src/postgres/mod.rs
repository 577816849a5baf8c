//! The PostgreSQL store: tokio-postgres through a deadpool pool, prepared statements cached per
//! connection, every multi-row change in one transaction, single-use consumption in one statement.
//!
//! `store.rs` holds the store traits, `migrate.rs` the migrations, `cache.rs` the client cache.
//! This file connects (pool, TLS) and runs statements from [`crate::sql`] (`exec`, `opt`,
//! `read_opt`, `all`, and [`Pg`], the [`Db`] of [`crate::ops`]).

/// Runs `$body` (an operation of [`crate::ops`] on `$db`) in a transaction on a pooled connection
/// and commits it. A transaction PostgreSQL aborts to break a deadlock or a serialization conflict
/// changed nothing and runs again (at most [`RACE_ATTEMPTS`] times): such conflicts are races
/// between requests for one grant (concurrent replays of a refresh token lock the rotated row and
/// the grant's revocation record in opposite orders), not failures to report.
macro_rules! in_tx {
    ($store:expr, |$db:ident| $body:expr) => {{
        let mut attempt = 1;
        loop {
            let outcome: $crate::traits::StoreResult<_> = async {
                let mut client = $store.client().await?;
                let tx = client.transaction().await.map_err($crate::postgres::pg_err)?;
                let result = {
                    let $db = &$crate::postgres::Pg(&tx);
                    $body.await?
                };
                tx.commit().await.map_err($crate::postgres::pg_err)?;
                Ok(result)
            }
            .await;
            match outcome {
                Err(e) if attempt < $crate::postgres::RACE_ATTEMPTS && $crate::postgres::lost_a_race(&e) => {
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

mod batches;
mod cache;
mod devices;
mod gather;
mod inserts;
mod lookups;
mod migrate;
mod registrations;
mod shared;
mod store;
mod tls;
mod tokens;

use crate::decode::{Cols, Decode};
use crate::error::StoreError;
pub use crate::model::MigrationStatus;
use crate::ops::Db;
use crate::sql::{Sql, Value};
use crate::traits::{PoolStatus, StoreResult};
pub use batches::Batches;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
pub use migrate::MIGRATIONS;
use std::str::FromStr;
use std::time::Duration;
use tls::tls_connector;
pub use tls::{TlsParams, TlsPolicy, tls_params};
use tokio_postgres::config::{Host, SslMode};

/// How to reach PostgreSQL and how to pool connections.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// `DATABASE_URL`, e.g. `postgres://user:pw@host:5432/db?sslmode=require`.
    pub url: String,
    /// Most connections in the pool (`GATEHOUSE_DB_POOL_MAX`).
    pub pool_max: usize,
    /// How long a request waits for a free connection or a new one before it fails with
    /// `temporarily_unavailable` (`GATEHOUSE_DB_POOL_TIMEOUT_MS`).
    pub pool_timeout: Duration,
    /// Server-side limit on one statement (`GATEHOUSE_DB_STATEMENT_TIMEOUT_MS`).
    pub statement_timeout: Duration,
    /// PEM file of the certificate authorities to trust for the server's certificate instead of the
    /// public web PKI (`GATEHOUSE_DB_CA_FILE`, or `sslrootcert` in the URL): a database behind a
    /// private CA is verified, never trusted blindly.
    pub ca_file: Option<std::path::PathBuf>,
}

impl PgSettings {
    /// Settings with the defaults for `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_max: 16,
            pool_timeout: Duration::from_millis(2000),
            statement_timeout: Duration::from_millis(5000),
            ca_file: None,
        }
    }
}

/// Receives the time each request waited for a pooled connection (the server feeds a histogram).
pub static POOL_WAIT_OBSERVER: std::sync::OnceLock<fn(Duration)> = std::sync::OnceLock::new();

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// A few connections whose sessions run `synchronous_commit = off`, used only to insert access
    /// tokens: one round trip, no wait for the WAL flush. A crash may lose a token just issued,
    /// which then fails closed; grants, rotations and everything else use `pool`.
    fast_pool: Pool,
    /// The connection point reads share (pipelined), replaced when it closes.
    reader: std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<Object>>>>,
    /// The connection access-token inserts share (pipelined), from `fast_pool`.
    inserter: std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<Object>>>>,
    /// Client records and "not revoked" answers, while a LISTEN connection keeps them honest (see
    /// [`cache`]).
    pub(crate) caches: cache::Caches,
    /// Access-token inserts and lookups, each kind gathered into one statement by a task of its
    /// own (see [`gather`]).
    gathers: std::sync::Arc<batches::Gathers>,
    /// How to open that connection ([`Self::start_caches`]).
    listener: std::sync::Arc<std::sync::Mutex<Option<cache::Connector>>>,
}

impl PgStore {
    /// Builds the pool. No connection is made until the first query, so a server can start
    /// while the database is still coming up; `ping` tells whether it is reachable.
    ///
    /// # Errors
    /// `Internal` when the URL cannot be parsed or the pool cannot be built.
    pub fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        let invalid = |e: &dyn std::fmt::Display| {
            StoreError::Internal(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))
        };
        let tls_params = tls_params(&settings.url).map_err(|e| invalid(&e))?;
        let mut config = tokio_postgres::Config::from_str(&tls_params.driver_url).map_err(|e| invalid(&e))?;
        let options = format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or(""),
            settings.statement_timeout.as_millis()
        );
        config.options(options.trim());
        config.connect_timeout(settings.pool_timeout);
        // `application_name` in the URL names the connections in `pg_stat_activity`; the cache
        // listener's is that name followed by " listener".
        if config.get_application_name().is_none() {
            config.application_name("gatehouse");
        }
        let loopback = config.get_hosts().iter().all(|h| match h {
            Host::Tcp(name) => name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
            Host::Unix(_) => true,
        });
        // TLS off for loopback unless the URL asks for it; everywhere else required and verified
        // unless the URL says otherwise (the driver's own default, `prefer`, can be downgraded by
        // anyone on the path answering "no TLS").
        let policy = tls_params.policy(loopback);
        config.ssl_mode(match policy {
            TlsPolicy::Off => SslMode::Disable,
            TlsPolicy::Prefer => SslMode::Prefer,
            TlsPolicy::Verify => SslMode::Require,
        });
        let tls = policy != TlsPolicy::Off;
        let ca_file = settings
            .ca_file
            .clone()
            .or_else(|| tls_params.root_cert.map(std::path::PathBuf::from));
        let mut fast_config = config.clone();
        fast_config.options(format!("{} -c synchronous_commit=off", config.get_options().unwrap_or("")).trim());
        let connector = if tls {
            Some(tls_connector(ca_file.as_deref())?)
        } else {
            None
        };
        let listener_config = config.clone();
        let pool = build_pool(config, connector.clone(), settings.pool_max, settings.pool_timeout)?;
        let listener = cache::Connector::new(listener_config, connector.clone());
        let fast_pool = build_pool(
            fast_config,
            connector,
            settings.pool_max.div_ceil(4),
            settings.pool_timeout,
        )?;
        Ok(Self {
            pool,
            fast_pool,
            reader: std::sync::Arc::default(),
            inserter: std::sync::Arc::default(),
            caches: cache::Caches::default(),
            gathers: std::sync::Arc::default(),
            listener: std::sync::Arc::new(std::sync::Mutex::new(Some(listener))),
        })
    }

    /// Starts caching client records and "not revoked" answers, kept current by LISTEN/NOTIFY on
    /// a connection of its own (the server calls this; the CLI reads afresh). Call within a Tokio
    /// runtime; a second call does nothing.
    pub fn start_caches(&self) {
        if let Some(connector) = self.listener.lock().ok().and_then(|mut l| l.take()) {
            tokio::spawn(cache::listen(self.caches.clone(), connector));
        }
    }

    /// Whether the caches are used (the LISTEN connection is up).
    #[must_use]
    pub fn caches_live(&self) -> bool {
        self.caches.clients.is_live() && self.caches.revocations.is_live()
    }

    /// Ends an operation that may have revoked tokens: this instance forgets its "not revoked"
    /// answers now, before the request is answered, rather than when the notification arrives.
    fn revoking<T>(&self, done: StoreResult<T>) -> StoreResult<T> {
        self.caches.revocations.clear();
        done
    }

    /// A pooled connection. The wait is reported to [`POOL_WAIT_OBSERVER`] when one is set.
    async fn client(&self) -> Result<Object, StoreError> {
        let started = std::time::Instant::now();
        let result = self.pool.get().await.map_err(pool_err);
        if let Some(observe) = POOL_WAIT_OBSERVER.get() {
            observe(started.elapsed());
        }
        result
    }

    /// Pool size, connections in use and idle, and the most it opens.
    #[must_use]
    pub fn pool_status(&self) -> PoolStatus {
        let s = self.pool.status();
        PoolStatus {
            size: s.size,
            in_use: s.size.saturating_sub(s.available),
            idle: s.available,
            max: s.max_size,
            caches_live: self.caches_live(),
        }
    }

    /// Runs a statement on a pooled connection; the rows it changed.
    async fn exec(&self, sql: &'static Sql, params: &[Value<'_>]) -> StoreResult<u64> {
        let c = self.client().await?;
        Pg(&c).exec(sql, params).await
    }

    /// The first row of a query on a pooled connection, decoded.
    async fn opt<T>(&self, sql: &'static Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        let c = self.client().await?;
        Pg(&c).opt(sql, params, decode).await
    }

    /// A point read on the shared read connection: concurrent reads are pipelined on it (one
    /// write of many queries, one backend answering them in a row) instead of each waking a
    /// backend of its own. Only reads that cannot wait on a lock go here.
    async fn read_opt<T>(&self, sql: &'static Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        let reader = self.shared_reader().await?;
        Pg(&*reader).opt(sql, params, decode).await
    }

    /// Every row of a query on a pooled connection, decoded.
    async fn all<T>(&self, sql: &'static Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(sql.postgres()).await.map_err(pg_err)?;
        let rows = c.query(&stmt, &pg_params(params)).await.map_err(pg_err)?;
        rows.iter().map(|r| decode(r)).collect()
    }
}

/// A pooled connection or a transaction, as [`crate::ops`] uses it.
pub(crate) struct Pg<'a, C>(pub(crate) &'a C);

fn pg_params<'a>(params: &'a [Value<'_>]) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(Value::pg).collect()
}

impl<C: GenericClient> Db for Pg<'_, C> {
    async fn exec(&self, sql: &'static Sql, params: &[Value<'_>]) -> StoreResult<u64> {
        let stmt = self.0.prepare_cached(sql.postgres()).await.map_err(pg_err)?;
        self.0
            .execute_raw(&stmt, params.iter().map(Value::pg))
            .await
            .map_err(pg_err)
    }

    async fn opt<T>(&self, sql: &'static Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        let stmt = self.0.prepare_cached(sql.postgres()).await.map_err(pg_err)?;
        let row = self.0.query_opt(&stmt, &pg_params(params)).await.map_err(pg_err)?;
        row.as_ref().map(|r| decode(r)).transpose()
    }

    async fn all<T>(&self, sql: &'static Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        let stmt = self.0.prepare_cached(sql.postgres()).await.map_err(pg_err)?;
        let rows = self.0.query(&stmt, &pg_params(params)).await.map_err(pg_err)?;
        rows.iter().map(|r| decode(r)).collect()
    }
}

impl Cols for tokio_postgres::Row {
    fn int(&self, i: usize) -> StoreResult<i64> {
        self.try_get(i).map_err(pg_err)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        self.try_get(i).map_err(pg_err)
    }
    fn bool(&self, i: usize) -> StoreResult<bool> {
        self.try_get(i).map_err(pg_err)
    }
    fn text(&self, i: usize) -> StoreResult<String> {
        self.try_get(i).map_err(pg_err)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        self.try_get(i).map_err(pg_err)
    }
    fn bytes(&self, i: usize) -> StoreResult<Vec<u8>> {
        self.try_get(i).map_err(pg_err)
    }
    fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>> {
        self.try_get(i).map_err(pg_err)
    }
}

fn build_pool(
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    max: usize,
    timeout: Duration,
) -> Result<Pool, StoreError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls {
        Some(connector) => Manager::from_config(config, connector, manager_config),
        None => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
    };
    Pool::builder(manager)
        .max_size(max)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))
}

fn poisoned() -> StoreError {
    StoreError::Internal("the shared read connection lock is poisoned".into())
}

pub(crate) fn pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_err(e),
        other => StoreError::Unavailable(format!("database connection pool: {other}")),
    }
}

/// How often a transaction runs when PostgreSQL keeps aborting it to resolve a race.
pub(crate) const RACE_ATTEMPTS: u32 = 4;

/// Whether PostgreSQL aborted the transaction to break a deadlock (40P01) or a serialization
/// conflict (40001): running it again is safe, since an aborted transaction changed nothing.
pub(crate) fn lost_a_race(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(text) if text.ends_with("(40P01)") || text.ends_with("(40001)"))
}

/// Maps a driver error: lost connections and server shutdowns are `Unavailable` (retryable),
/// unique violations `Conflict`, the rest `Internal`.
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        let text = format!("{} ({})", db.message(), db.code().code());
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(text);
        }
        let c = code.code();
        if c.starts_with("08") || c.starts_with("57") || c.starts_with("53") || c == "40001" || c == "40P01" {
            return StoreError::Unavailable(text);
        }
        return StoreError::Internal(text);
    }
    let text = e.to_string();
    let chain = std::iter::successors(std::error::Error::source(&e), |s| s.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    if chain.contains("certificate") {
        return StoreError::Unavailable(format!(
            "{text}: {chain}; the database's TLS certificate did not verify: trust its CA with \
             GATEHOUSE_DB_CA_FILE (a PEM file), and connect with the host name the certificate names"
        ));
    }
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::values;
    use std::sync::atomic::{AtomicU32, Ordering};

    static TOUCH: Sql = Sql::new("UPDATE race SET v = v + 1 WHERE id = ?1");

    /// Two transactions that lock two rows in opposite orders: PostgreSQL aborts one to break the
    /// deadlock, and `in_tx!` runs it again instead of reporting the abort, so both take effect
    /// exactly once. Runs against `GATEHOUSE_TEST_PG_URL` (skipped without it).
    #[tokio::test]
    async fn a_transaction_aborted_to_break_a_deadlock_runs_again() {
        let Some(url) = std::env::var("GATEHOUSE_TEST_PG_URL").ok().filter(|u| !u.is_empty()) else {
            return;
        };
        let schema = format!("race_{}", std::process::id());
        let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.race (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);
                 INSERT INTO {schema}.race VALUES (1, 0), (2, 0);"
            ))
            .await
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let store = PgStore::connect(&PgSettings::new(format!(
            "{url}{sep}options=-c%20search_path%3D{schema}"
        )))
        .unwrap();
        let runs = std::sync::Arc::new(AtomicU32::new(0));
        let touch_both = |first: i64, second: i64| {
            let (store, runs) = (store.clone(), std::sync::Arc::clone(&runs));
            tokio::spawn(async move {
                let result: StoreResult<()> = in_tx!(store, |db| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    db.exec(&TOUCH, &values![first]).await?;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    db.exec(&TOUCH, &values![second]).await?;
                    Ok::<(), StoreError>(())
                });
                result
            })
        };
        let (a, b) = (touch_both(1, 2), touch_both(2, 1));
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();
        assert!(runs.load(Ordering::SeqCst) >= 3, "one of the two ran again");
        let rows = admin
            .query(&format!("SELECT v FROM {schema}.race ORDER BY id"), &[])
            .await
            .unwrap();
        let values: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(values, [2, 2], "each transaction took effect exactly once");
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}
