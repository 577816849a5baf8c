//! The embedded store: one SQLite file in the data directory, WAL mode, `synchronous=FULL` so each
//! commit is durable. The server and the CLI may open the same file at once (WAL readers never
//! block, writers wait up to `busy_timeout`).
//!
//! `thread.rs` holds the store thread (group commit: one transaction and fsync per batch of writes) and the checkpoint
//! thread, `migrate.rs` the schema migrations, `store.rs` and `tokens.rs` the store traits. This file opens the
//! store and runs statements: [`exec`], [`opt`] and [`all`] on a connection, with parameters and
//! decoders from [`crate::sql`] and [`crate::decode`].

mod devices;
mod migrate;
mod registrations;
mod store;
mod thread;
mod tokens;

use crate::decode::{Cols, Decode};
use crate::error::StoreError;
use crate::ops::Db;
use crate::sql::{Sql, Value};
use crate::traits::StoreResult;
pub use migrate::migration_status;
use rusqlite::{Connection, params_from_iter};
use std::path::{Path, PathBuf};
use thread::Job;

/// The file name inside the data directory.
pub const DB_FILE: &str = "gatehouse.db";

/// Most idle read-only connections kept for reuse.
const READERS_MAX: usize = 8;

/// The embedded SQLite store.
///
/// One thread owns the connection and runs jobs in arrival order; callers await the answer (see
/// `thread.rs`).
///
/// Reads do not queue behind writes: they run in the calling task on a read-only connection from a
/// small pool (WAL readers see every committed transaction and never block the writer). A point
/// lookup takes microseconds from the page cache, less than the hand-off to another thread.
#[derive(Clone)]
pub struct SqliteStore {
    jobs: std::sync::mpsc::Sender<Job>,
    path: PathBuf,
    readers: std::sync::Arc<std::sync::Mutex<Vec<Connection>>>,
    /// Client records, dropped whenever `client_changes` moved (see `cache.rs`).
    clients: std::sync::Arc<crate::cache::ClientCache>,
    /// JWT access tokens found not revoked, dropped whenever `revocation_changes` moved.
    revocations: std::sync::Arc<crate::cache::RevocationCache>,
}

/// Creates the data directory (0700) and the database file (0600) when missing, and refuses to go
/// on when either is open to other users: the file holds signing keys and server secrets. SQLite
/// gives the `-wal` and `-shm` files the database file's mode.
///
/// # Errors
/// `Unavailable` naming the path and the `chmod` that fixes it.
fn private_files(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let cannot = |what: &str, path: &Path, e: std::io::Error| {
            StoreError::Unavailable(format!("cannot create {what} {}: {e}", path.display()))
        };
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| cannot("data directory", dir, e))?;
        }
        let db = dir.join(DB_FILE);
        if !db.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&db)
                .map_err(|e| cannot("database file", &db, e))?;
        }
        for (path, fix) in [(dir.to_path_buf(), "700"), (db, "600")] {
            let mode = std::fs::metadata(&path)
                .map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", path.display())))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(StoreError::Unavailable(format!(
                    "{} is open to other users (mode {:o}) and holds signing keys and secrets; \
                     fix it with: chmod {fix} {}",
                    path.display(),
                    mode & 0o777,
                    path.display()
                )));
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::Unavailable(format!("cannot create data directory {}: {e}", dir.display())))?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir` and applies pending migrations.
    ///
    /// # Errors
    /// `Unavailable` when the directory or file cannot be created or opened; `Internal` when a
    /// migration fails (the failed migration is rolled back).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, true)
    }

    /// Opens the store; with `apply_migrations` false, refuses a store with pending migrations,
    /// naming them (`GATEHOUSE_AUTO_MIGRATE=false`).
    ///
    /// # Errors
    /// As [`Self::open`], and `Internal` naming the pending migrations.
    pub fn open_with(dir: &Path, apply_migrations: bool) -> Result<Self, StoreError> {
        private_files(dir)?;
        let path = dir.join(DB_FILE);
        let cannot_open = |e: rusqlite::Error| StoreError::Unavailable(format!("cannot open {}: {e}", path.display()));
        let mut conn = Connection::open(&path).map_err(cannot_open)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate::migrate(&mut conn, apply_migrations)?;
        // Checkpoints: a thread of its own copies committed frames into the database file
        // (PASSIVE, never blocking the writer), so the writer's own checkpoint, every ~16 MiB of
        // WAL, finds almost everything copied and only finishes up and restarts the WAL. With the
        // writer alone doing the copying, every write queued behind it stalled (p99 of 13 ms at
        // half load); with the thread alone, the WAL never restarts under steady load (it grew
        // to 1.8 GB in a benchmark).
        conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
        let checkpointer = Connection::open(&path).map_err(cannot_open)?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (alive, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("gatehouse-sqlite".into())
            .spawn(move || {
                thread::store_thread(&mut conn, &queue);
                drop(alive);
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the store thread: {e}")))?;
        std::thread::Builder::new()
            .name("gatehouse-sqlite-checkpoint".into())
            .spawn(move || thread::checkpoint_thread(&checkpointer, &stopped))
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            jobs,
            path,
            readers: std::sync::Arc::default(),
            clients: std::sync::Arc::default(),
            revocations: std::sync::Arc::default(),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a read in the calling task on a pooled read-only connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.readers.lock().map_err(|_| poisoned())?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let result = f(&conn);
        let mut idle = self.readers.lock().map_err(|_| poisoned())?;
        if idle.len() < READERS_MAX {
            idle.push(conn);
        }
        result
    }

    /// The first row of a query on a pooled read-only connection, decoded.
    fn read_opt<T>(&self, sql: &Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        self.read(|conn| opt(conn, sql, params, decode))
    }

    /// A client, from the cache while `client_changes` has not moved since it was loaded.
    fn find_cached_client(&self, id: &gatehouse_protocol::types::ClientId) -> StoreResult<Option<crate::ClientRecord>> {
        self.read(|conn| {
            read_through(conn, &self.clients, &crate::sql::clients::CHANGES, id.as_str(), || {
                let params = crate::sql::values![id.as_str()];
                opt(conn, &crate::sql::clients::FIND, &params, crate::decode::client)
            })
        })
    }

    /// Whether a JWT access token is revoked; "not revoked" comes from the cache while
    /// `revocation_changes` has not moved since it was read.
    fn cached_jwt_revoked(&self, token: &crate::AccessTokenRecord, issued_ms: i64) -> StoreResult<bool> {
        let key = crate::cache::revocation_key(token, issued_ms);
        let not_revoked = self.read(|conn| {
            read_through(
                conn,
                &self.revocations,
                &crate::sql::tokens::REVOCATION_CHANGES,
                &key,
                || {
                    let params = crate::sql::tokens::jwt_revoked_params(token, issued_ms);
                    let revoked = opt(conn, &crate::sql::tokens::JWT_REVOKED, &params, crate::decode::exists)?;
                    Ok(if revoked.is_some() { None } else { Some(()) })
                },
            )
        })?;
        Ok(not_revoked.is_none())
    }

    /// Every row of a query on a pooled read-only connection, decoded.
    fn read_all<T>(&self, sql: &Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        self.read(|conn| all(conn, sql, params, decode))
    }

    /// Runs `f` on the store thread, in a batch's transaction and a savepoint of its own (see
    /// `thread.rs`: a failure undoes `f`'s writes alone), and awaits its result, known durable.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.submit(f, false).await
    }

    /// As [`Self::run`], for a write that a crash may lose without harm (an access token just
    /// issued fails closed): a batch of these alone does not wait for fsync.
    async fn run_relaxed<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.submit(f, true).await
    }

    async fn submit<T, F>(&self, f: F, relaxed: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (answer, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job::new(f, answer, relaxed))
            .map_err(|_| StoreError::Internal("the store thread has stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Internal("the store thread dropped a request".into()))?
    }
}

fn poisoned() -> StoreError {
    StoreError::Internal("the read connection pool lock is poisoned".into())
}

/// Prepared statements each connection keeps: every statement the store runs (a little over 100), so none
/// is parsed twice. rusqlite's default of 16 made a login flow parse SQL over and over (1.6% of the
/// core in a profile, in the thread every write waits for).
const STATEMENTS: usize = 256;

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| StoreError::Unavailable(format!("cannot open {} for reading: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(conn)
}

/// Busy or locked is `Unavailable` (retryable), a duplicate key `Conflict`, the rest `Internal`.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{ConstraintViolation, DatabaseBusy, DatabaseLocked};
        use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DatabaseBusy | DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == ConstraintViolation
                    && matches!(f.extended_code, SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE) =>
            {
                StoreError::Conflict(e.to_string())
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

/// Runs a statement (prepared once per connection); the rows it changed.
pub(crate) fn exec(conn: &Connection, sql: &Sql, params: &[Value<'_>]) -> StoreResult<u64> {
    let n = conn.prepare_cached(sql.sqlite())?.execute(params_from_iter(params))?;
    Ok(n as u64)
}

/// The first row of a query, decoded.
pub(crate) fn opt<T>(conn: &Connection, sql: &Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
    let mut stmt = conn.prepare_cached(sql.sqlite())?;
    let mut rows = stmt.query(params_from_iter(params))?;
    rows.next()?.map(|r| decode(r)).transpose()
}

/// Every row of a query, decoded.
pub(crate) fn all<T>(conn: &Connection, sql: &Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql.sqlite())?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(decode(r)?);
    }
    Ok(out)
}

/// A lookup through `cache` (see `cache.rs`): the count of changes `changes` reads comes first, so
/// a change committed before the lookup began is always seen; then the entry for `key`, or `load`,
/// whose `Some` is kept. Without the count (its row deleted by hand) nothing is cached.
fn read_through<K, Q, V>(
    conn: &Connection,
    cache: &crate::cache::Cache<K, V>,
    changes: &Sql,
    key: &Q,
    load: impl FnOnce() -> StoreResult<Option<V>>,
) -> StoreResult<Option<V>>
where
    K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
    Q: ToOwned<Owned = K> + Eq + std::hash::Hash + ?Sized,
    V: Clone,
{
    let Some(count) = opt(conn, changes, &[], |r| r.int(0))? else {
        cache.reset(false);
        return load();
    };
    cache.follow(count);
    ready(cache.through(key, async { load() }))
}

/// Completes an operation of [`crate::ops`] on the store thread. SQLite's [`Db`] never waits, so
/// one poll finishes it.
pub(crate) fn ready<T>(operation: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut operation = std::pin::pin!(operation);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match operation.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(StoreError::Internal("a SQLite operation waited".into())),
    }
}

impl Db for Connection {
    async fn exec(&self, sql: &'static Sql, params: &[Value<'_>]) -> StoreResult<u64> {
        exec(self, sql, params)
    }

    async fn opt<T>(&self, sql: &'static Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        opt(self, sql, params, decode)
    }

    async fn all<T>(&self, sql: &'static Sql, params: &[Value<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        all(self, sql, params, decode)
    }
}

impl Cols for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> StoreResult<i64> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        Ok(self.get(i)?)
    }
    fn bool(&self, i: usize) -> StoreResult<bool> {
        Ok(self.get(i)?)
    }
    fn text(&self, i: usize) -> StoreResult<String> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> StoreResult<Vec<u8>> {
        Ok(self.get(i)?)
    }
    fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.get(i)?)
    }
}
