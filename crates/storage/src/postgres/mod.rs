//! The PostgreSQL store: tokio-postgres through a deadpool pool, prepared statements cached per
//! connection, every multi-row change in one transaction, single-use consumption in one statement.

mod cache;
mod migrate;
mod rows;
mod traits;

use crate::error::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
pub use migrate::{MIGRATIONS, MigrationStatus};
use std::str::FromStr;
use std::time::Duration;
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
    /// Client records, while a LISTEN connection keeps them honest (see [`cache`]).
    pub(crate) clients: std::sync::Arc<cache::ClientCache>,
    /// How to open that connection ([`Self::start_client_cache`]).
    listener: std::sync::Arc<std::sync::Mutex<Option<cache::Connector>>>,
}

impl PgStore {
    /// Builds the pool. No connection is made until the first query, so a server can start
    /// while the database is still coming up; `ping` tells whether it is reachable.
    ///
    /// # Errors
    /// `Internal` when the URL cannot be parsed or the pool cannot be built.
    pub fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(&settings.url)
            .map_err(|e| StoreError::Internal(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}")))?;
        let options = format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or(""),
            settings.statement_timeout.as_millis()
        );
        config.options(options.trim());
        config.connect_timeout(settings.pool_timeout);
        config.application_name("gatehouse");
        let explicit_tls = settings.url.contains("sslmode=");
        let loopback = config.get_hosts().iter().all(|h| match h {
            Host::Tcp(name) => name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
            Host::Unix(_) => true,
        });
        // TLS off for loopback unless the URL asks for it; otherwise as the URL's sslmode says.
        let tls = !(config.get_ssl_mode() == SslMode::Disable || (loopback && !explicit_tls));
        let mut fast_config = config.clone();
        fast_config.options(format!("{} -c synchronous_commit=off", config.get_options().unwrap_or("")).trim());
        let listener = cache::Connector {
            config: config.clone(),
            tls: if tls { Some(tls_connector()?) } else { None },
        };
        let pool = build_pool(config, tls, settings.pool_max, settings.pool_timeout)?;
        let fast_pool = build_pool(fast_config, tls, settings.pool_max.div_ceil(4), settings.pool_timeout)?;
        Ok(Self {
            pool,
            fast_pool,
            reader: std::sync::Arc::default(),
            clients: std::sync::Arc::default(),
            listener: std::sync::Arc::new(std::sync::Mutex::new(Some(listener))),
        })
    }

    /// Starts caching client records, kept current by LISTEN/NOTIFY on a connection of its own
    /// (the server calls this; the CLI reads clients afresh). Call within a Tokio runtime; a
    /// second call does nothing.
    pub fn start_client_cache(&self) {
        if let Some(connector) = self.listener.lock().ok().and_then(|mut l| l.take()) {
            tokio::spawn(cache::listen(std::sync::Arc::clone(&self.clients), connector));
        }
    }

    /// Whether client records are being cached (the LISTEN connection is up).
    #[must_use]
    pub fn client_cache_live(&self) -> bool {
        self.clients.is_live()
    }

    /// The shared read connection: one pooled connection kept for point reads from every task.
    async fn shared_reader(&self) -> Result<std::sync::Arc<Object>, StoreError> {
        if let Some(c) = self.reader.lock().map_err(|_| poisoned())?.as_ref()
            && !c.is_closed()
        {
            return Ok(std::sync::Arc::clone(c));
        }
        let fresh = std::sync::Arc::new(self.client().await?);
        let mut slot = self.reader.lock().map_err(|_| poisoned())?;
        match slot.as_ref() {
            // Another task got there first: use its connection, ours goes back to the pool.
            Some(c) if !c.is_closed() => Ok(std::sync::Arc::clone(c)),
            _ => {
                *slot = Some(std::sync::Arc::clone(&fresh));
                Ok(fresh)
            }
        }
    }

    /// A connection from the no-flush pool (access-token inserts only).
    async fn fast_client(&self) -> Result<Object, StoreError> {
        self.fast_pool.get().await.map_err(pool_err)
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

    /// Pool size, connections in use and idle: `(size, in_use, idle, max)`.
    #[must_use]
    pub fn pool_status(&self) -> (usize, usize, usize, usize) {
        let s = self.pool.status();
        (s.size, s.size.saturating_sub(s.available), s.available, s.max_size)
    }
}

fn build_pool(config: tokio_postgres::Config, tls: bool, max: usize, timeout: Duration) -> Result<Pool, StoreError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if tls {
        Manager::from_config(config, tls_connector()?, manager_config)
    } else {
        Manager::from_config(config, tokio_postgres::NoTls, manager_config)
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

/// TLS with certificates checked against the public web PKI roots.
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Internal(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
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
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}
