//! The embedded store: one SQLite file in the data directory, WAL mode, `synchronous=FULL` so each
//! commit is durable. The server and the CLI may open the same file at once (WAL readers never
//! block, writers wait up to `busy_timeout`).

mod rows;

use crate::error::StoreError;
use crate::model::*;
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::types::{ClientId, ScopeSet, TokenHash, UnixTime};
use rows::*;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};

/// Numbered schema migrations; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_init", include_str!("001_init.sql")),
    ("002_token_lifecycle", include_str!("002_token_lifecycle.sql")),
    ("003_lockout", include_str!("003_lockout.sql")),
    ("004_key_rotation", include_str!("004_key_rotation.sql")),
    ("005_token_indexes", include_str!("005_token_indexes.sql")),
    ("006_hardening", include_str!("006_hardening.sql")),
];

/// The file name inside the data directory.
pub const DB_FILE: &str = "gatehouse.db";

/// A unit of work for the store thread.
enum Job {
    /// Any statement or transaction, run alone.
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
    /// An access-token insert: consecutive ones share a commit (group commit).
    InsertAccess(Box<AccessTokenRecord>, tokio::sync::oneshot::Sender<StoreResult<()>>),
}

/// Most access-token inserts that share one commit.
const GROUP_COMMIT_MAX: usize = 256;

/// Most idle read-only connections kept for reuse.
const READERS_MAX: usize = 8;

/// The embedded SQLite store.
///
/// One thread owns the connection and runs jobs in arrival order; callers await the answer. This
/// keeps SQLite's single writer busy without a lock convoy: `spawn_blocking` plus a mutex made one
/// blocking thread per waiting request (hundreds under load, each with its own malloc arena).
///
/// Reads do not queue behind writes: they run in the calling task on a read-only connection from a
/// small pool (WAL readers see every committed transaction and never block the writer). A point
/// lookup takes microseconds from the page cache, less than the hand-off to another thread.
#[derive(Clone)]
pub struct SqliteStore {
    jobs: std::sync::mpsc::Sender<Job>,
    path: PathBuf,
    readers: std::sync::Arc<std::sync::Mutex<Vec<Connection>>>,
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
                    "{} is open to other users (mode {:o}) and holds signing keys and secrets; fix it with: chmod {fix} {}",
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
        let mut conn = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(map_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(map_err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(map_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(map_err)?;
        migrate(&mut conn, apply_migrations)?;
        // Checkpoints: a thread of its own copies committed frames into the database file
        // (PASSIVE, never blocking the writer), so the writer's own checkpoint, every ~16 MiB of
        // WAL, finds almost everything copied and only finishes up and restarts the WAL. With the
        // writer alone doing the copying, every write queued behind it stalled (p99 of 13 ms at
        // half load); with the thread alone, the WAL never restarts under steady load (it grew
        // to 1.8 GB in a benchmark).
        conn.pragma_update(None, "wal_autocheckpoint", 4000).map_err(map_err)?;
        let checkpointer = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (alive, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("gatehouse-sqlite".into())
            .spawn(move || {
                store_thread(&mut conn, &queue);
                drop(alive);
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the store thread: {e}")))?;
        std::thread::Builder::new()
            .name("gatehouse-sqlite-checkpoint".into())
            .spawn(move || checkpoint_thread(&checkpointer, &stopped))
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            jobs,
            path,
            readers: std::sync::Arc::default(),
        })
    }

    /// Runs a read in the calling task on a pooled read-only connection.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
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

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store thread and awaits its result.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, result) = tokio::sync::oneshot::channel();
        let job = Job::Run(Box::new(move |conn| {
            let _ = answer.send(f(conn));
        }));
        self.submit(job, result).await
    }

    async fn submit<T>(&self, job: Job, result: tokio::sync::oneshot::Receiver<StoreResult<T>>) -> StoreResult<T> {
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Internal("the store thread has stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Internal("the store thread dropped a request".into()))?
    }
}

fn poisoned() -> StoreError {
    StoreError::Internal("the read connection pool lock is poisoned".into())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| StoreError::Unavailable(format!("cannot open {} for reading: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(map_err)?;
    Ok(conn)
}

/// The store thread: runs jobs in arrival order. Access-token inserts waiting in the queue are
/// gathered into one transaction, so one commit carries many tokens (group commit); a job of
/// another kind ends the group and runs after it.
fn store_thread(conn: &mut Connection, queue: &std::sync::mpsc::Receiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Run(f) => {
                // A panicking job must not take the store down with it; its caller sees an error.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
            }
            Job::InsertAccess(token, answer) => {
                let mut group = vec![(token, answer)];
                while group.len() < GROUP_COMMIT_MAX {
                    match queue.try_recv() {
                        Ok(Job::InsertAccess(t, a)) => group.push((t, a)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| insert_access_group(conn, group)));
            }
        }
    }
}

/// How often the checkpoint thread copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] until the store thread ends.
/// PASSIVE never waits for readers or the writer.
fn checkpoint_thread(conn: &Connection, stopped: &std::sync::mpsc::Receiver<()>) {
    let _ = conn.busy_timeout(std::time::Duration::from_millis(100));
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        // Busy (another process checkpointing) or failed: the next round tries again.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

/// Inserts a group of access tokens in one transaction. A row that fails (say its client was just
/// deleted) fails alone: SQLite undoes only the failing statement, and its caller gets the error.
///
/// Access tokens alone commit without waiting for fsync (`synchronous=NORMAL` in WAL mode: durable
/// at the next checkpoint or FULL commit). A crash may lose a token just issued; it then fails
/// closed (introspection says inactive). Everything else stays FULL.
fn insert_access_group(
    conn: &mut Connection,
    group: Vec<(Box<AccessTokenRecord>, tokio::sync::oneshot::Sender<StoreResult<()>>)>,
) {
    let outcome = conn
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(map_err)
        .and_then(|()| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let results: Vec<StoreResult<()>> = group.iter().map(|(t, _)| insert_access(&tx, t)).collect();
            tx.commit().map_err(map_err)?;
            Ok(results)
        });
    let outcome = match conn.pragma_update(None, "synchronous", "FULL") {
        Ok(()) => outcome,
        Err(e) => Err(map_err(e)),
    };
    match outcome {
        Ok(results) => {
            for ((_, answer), result) in group.into_iter().zip(results) {
                let _ = answer.send(result);
            }
        }
        Err(e) => {
            for (_, answer) in group {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}

/// Names of the applied and pending embedded migrations of the store in `dir`, without changing it.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn migration_status(dir: &Path) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let path = dir.join(DB_FILE);
    let applied: i64 = if path.exists() {
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(map_err)?
    } else {
        0
    };
    let applied = usize::try_from(applied).unwrap_or(0).min(MIGRATIONS.len());
    let names = |m: &[(&str, &str)]| m.iter().map(|(n, _)| (*n).to_owned()).collect();
    Ok((names(&MIGRATIONS[..applied]), names(&MIGRATIONS[applied..])))
}

fn migrate(conn: &mut Connection, apply: bool) -> Result<(), StoreError> {
    // IMMEDIATE takes the write lock first, so a CLI and a server starting together migrate once.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let applied: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
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
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

#[async_trait]
impl Clients for SqliteStore {
    async fn create_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let c = client.clone();
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO clients (id, name, secret_hash, auth_method, redirect_uris, grant_types, scopes, id_token_alg, created_at, access_token_format, resources, introspect)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)").map_err(map_err)?.execute(client_params(&c)?)
            .map_err(|e| conflict_or(e, format!("client {}", c.id)))?;
            Ok(())
        })
        .await
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        let id = id.as_str().to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {CLIENT_COLS} FROM clients WHERE id = ?1"))
                .map_err(map_err)?
                .query_row([id], read_client)
                .optional()
                .map_err(map_err)?
                .transpose()
        })
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {CLIENT_COLS} FROM clients ORDER BY id"))
                .map_err(map_err)?;
            let rows = stmt.query_map([], read_client).map_err(map_err)?;
            rows.map(|r| r.map_err(map_err)?).collect()
        })
        .await
    }

    async fn update_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        let c = client.clone();
        self.run(move |conn| {
            let n = conn.prepare_cached("UPDATE clients SET name = ?2, secret_hash = ?3, auth_method = ?4, redirect_uris = ?5,
                     grant_types = ?6, scopes = ?7, id_token_alg = ?8, created_at = ?9, access_token_format = ?10, resources = ?11, introspect = ?12 WHERE id = ?1").map_err(map_err)?.execute(client_params(&c)?)
                .map_err(map_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        let id = id.as_str().to_owned();
        // ON DELETE CASCADE removes its codes, tokens and consents in the same transaction.
        self.run(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM clients WHERE id = ?1")
                .map_err(map_err)?
                .execute([id])
                .map_err(map_err)?
                == 1)
        })
        .await
    }
}

#[async_trait]
impl Users for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        let u = user.clone();
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO users (id, username, email, email_verified, name, password_hash, locked, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)").map_err(map_err)?.execute(user_params(&u))
            .map_err(|e| conflict_or(e, format!("user {}", u.username)))?;
            Ok(())
        })
        .await
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        let id = id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))
                .map_err(map_err)?
                .query_row([id], read_user)
                .optional()
                .map_err(map_err)
        })
        .await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let name = username.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE username = ?1"))
                .map_err(map_err)?
                .query_row([name], read_user)
                .optional()
                .map_err(map_err)
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
                .map_err(map_err)?;
            let rows = stmt.query_map([], read_user).map_err(map_err)?;
            rows.map(|r| r.map_err(map_err)).collect()
        })
        .await
    }

    async fn update_user(&self, user: &UserRecord) -> StoreResult<bool> {
        let u = user.clone();
        self.run(move |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE users SET username = ?2, email = ?3, email_verified = ?4, name = ?5, password_hash = ?6,
                     locked = ?7, created_at = ?8, updated_at = ?9 WHERE id = ?1",
                )
                .map_err(map_err)?
                .execute(user_params(&u))
                .map_err(|e| conflict_or(e, format!("user {}", u.username)))?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(map_err)?;
            tx.prepare_cached("DELETE FROM access_tokens WHERE subject = ?1")
                .map_err(map_err)?
                .execute([&id])
                .map_err(map_err)?;
            tx.prepare_cached("DELETE FROM refresh_tokens WHERE subject = ?1")
                .map_err(map_err)?
                .execute([&id])
                .map_err(map_err)?;
            let n = tx
                .prepare_cached("DELETE FROM users WHERE id = ?1")
                .map_err(map_err)?
                .execute([&id])
                .map_err(map_err)?;
            tx.commit().map_err(map_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn revoke_user_sessions(&self, id: &str, now: UnixTime) -> StoreResult<u64> {
        let id = id.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(map_err)?;
            // Grants first: a refresh rotating at this moment must not leave a live successor.
            for sql in [
                "INSERT INTO revoked_grants (grant_id, revoked_at) SELECT DISTINCT family_id, ?2 FROM refresh_tokens
                 WHERE subject = ?1 ON CONFLICT (grant_id) DO NOTHING",
                "INSERT INTO revoked_grants (grant_id, revoked_at) SELECT DISTINCT grant_id, ?2 FROM access_tokens
                 WHERE subject = ?1 AND grant_id IS NOT NULL ON CONFLICT (grant_id) DO NOTHING",
                // Codes not yet exchanged and sign-ins waiting at the consent page end too.
                "DELETE FROM codes WHERE consumed_at IS NULL AND json_extract(grant_data, '$.subject') = ?1 AND ?2 IS NOT NULL",
                "DELETE FROM interactions WHERE json_extract(login, '$.user_id') = ?1 AND ?2 IS NOT NULL",
            ] {
                tx.prepare_cached(sql)
                    .map_err(map_err)?
                    .execute(params![id, now.0])
                    .map_err(map_err)?;
            }
            let mut revoked = 0;
            for sql in [
                "UPDATE access_tokens SET revoked_at = ?2 WHERE subject = ?1 AND revoked_at IS NULL",
                "UPDATE refresh_tokens SET revoked_at = ?2 WHERE subject = ?1 AND revoked_at IS NULL",
            ] {
                revoked += tx
                    .prepare_cached(sql)
                    .map_err(map_err)?
                    .execute(params![id, now.0])
                    .map_err(map_err)?;
            }
            tx.prepare_cached("DELETE FROM browser_sessions WHERE user_id = ?1")
                .map_err(map_err)?
                .execute([&id])
                .map_err(map_err)?;
            tx.commit().map_err(map_err)?;
            Ok(revoked as u64)
        })
        .await
    }
}

#[async_trait]
impl Scopes for SqliteStore {
    async fn create_scope(&self, scope: &ScopeRecord) -> StoreResult<()> {
        let s = scope.clone();
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO scopes (name, description, builtin) VALUES (?1, ?2, ?3)")
                .map_err(map_err)?
                .execute(params![s.name, s.description, s.builtin])
                .map_err(|e| conflict_or(e, format!("scope {}", s.name)))?;
            Ok(())
        })
        .await
    }

    async fn list_scopes(&self) -> StoreResult<Vec<ScopeRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT name, description, builtin FROM scopes ORDER BY name")
                .map_err(map_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(ScopeRecord {
                        name: r.get(0)?,
                        description: r.get(1)?,
                        builtin: r.get(2)?,
                    })
                })
                .map_err(map_err)?;
            rows.map(|r| r.map_err(map_err)).collect()
        })
        .await
    }

    async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.run(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM scopes WHERE name = ?1 AND builtin = 0")
                .map_err(map_err)?
                .execute([name])
                .map_err(map_err)?
                == 1)
        })
        .await
    }
}

#[async_trait]
impl Consents for SqliteStore {
    async fn find_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<Option<ScopeSet>> {
        let (u, c) = (user_id.to_owned(), client_id.as_str().to_owned());
        self.read(move |conn| {
            let scope: Option<String> = conn
                .prepare_cached("SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2")
                .map_err(map_err)?
                .query_row([u, c], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            scope.map(|s| parse_scope(&s)).transpose()
        })
        .await
    }

    async fn list_consents(&self) -> StoreResult<Vec<(String, ClientId, ScopeSet, UnixTime)>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT user_id, client_id, scope, granted_at FROM consents ORDER BY user_id, client_id",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(map_err)?;
            rows.map(|r| {
                let (u, c, s, t) = r.map_err(map_err)?;
                Ok((u, ClientId::from_stored(c), parse_scope(&s)?, UnixTime(t)))
            })
            .collect()
        })
        .await
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()> {
        let (u, c, s) = (user_id.to_owned(), client_id.as_str().to_owned(), scope.clone());
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let before: Option<String> = tx.prepare_cached("SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2").map_err(map_err)?.query_row([&u, &c], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            let merged = match before {
                Some(b) => parse_scope(&b)?.union(&s),
                None => s,
            };
            tx.prepare_cached("INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at").map_err(map_err)?.execute(params![u, c, merged.to_param(), now.0])
            .map_err(map_err)?;
            tx.commit().map_err(map_err)
        })
        .await
    }
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn put_session(&self, session: &BrowserSession) -> StoreResult<()> {
        let s = session.clone();
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO browser_sessions (token_hash, sid, user_id, auth_time, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(map_err)?.execute(params![s.token_hash.as_bytes().as_slice(), s.sid, s.user_id, s.auth_time.0, s.expires_at.0])
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn find_session(&self, token_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<BrowserSession>> {
        let h = *token_hash;
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT token_hash, sid, user_id, auth_time, expires_at FROM browser_sessions
                 WHERE token_hash = ?1 AND expires_at > ?2",
            )
            .map_err(map_err)?
            .query_row(params![h.as_bytes().as_slice(), now.0], read_session)
            .optional()
            .map_err(map_err)?
            .transpose()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &TokenHash) -> StoreResult<()> {
        let h = *token_hash;
        self.run(move |conn| {
            conn.prepare_cached("DELETE FROM browser_sessions WHERE token_hash = ?1")
                .map_err(map_err)?
                .execute([h.as_bytes().as_slice()])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn put_interaction(&self, interaction: &Interaction) -> StoreResult<()> {
        let i = interaction.clone();
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO interactions (id, csrf_hash, browser_hash, request, login, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)").map_err(map_err)?.execute(params![
                    i.id,
                    i.csrf_hash.as_bytes().as_slice(),
                    i.browser_hash.as_bytes().as_slice(),
                    to_json(&i.request)?,
                    i.login.as_ref().map(to_json).transpose()?,
                    i.expires_at.0
                ])
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn find_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        let id = id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {INTERACTION_COLS} FROM interactions WHERE id = ?1 AND expires_at > ?2"
            ))
            .map_err(map_err)?
            .query_row(params![id, now.0], read_interaction)
            .optional()
            .map_err(map_err)?
            .transpose()
        })
        .await
    }

    async fn set_interaction_csrf(&self, id: &str, csrf_hash: &TokenHash) -> StoreResult<bool> {
        let (id, h) = (id.to_owned(), *csrf_hash);
        self.run(move |conn| {
            let n = conn
                .prepare_cached("UPDATE interactions SET csrf_hash = ?2 WHERE id = ?1")
                .map_err(map_err)?
                .execute(params![id, h.as_bytes().as_slice()])
                .map_err(map_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn set_interaction_login(&self, id: &str, login: &InteractionLogin) -> StoreResult<bool> {
        let (id, login) = (id.to_owned(), login.clone());
        self.run(move |conn| {
            let n = conn
                .prepare_cached("UPDATE interactions SET login = ?2 WHERE id = ?1")
                .map_err(map_err)?
                .execute(params![id, to_json(&login)?])
                .map_err(map_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn take_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        let id = id.to_owned();
        self.run(move |conn| {
            conn.prepare_cached(&format!(
                "DELETE FROM interactions WHERE id = ?1 AND expires_at > ?2 RETURNING {INTERACTION_COLS}"
            ))
            .map_err(map_err)?
            .query_row(params![id, now.0], read_interaction)
            .optional()
            .map_err(map_err)?
            .transpose()
        })
        .await
    }
}

#[async_trait]
impl Codes for SqliteStore {
    async fn put_code(&self, hash: &TokenHash, grant: &CodeGrant) -> StoreResult<()> {
        let (h, g) = (*hash, grant.clone());
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO codes (hash, grant_id, client_id, grant_data, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(map_err)?
            .execute(params![
                h.as_bytes().as_slice(),
                g.grant_id,
                g.client_id.as_str(),
                to_json(&g)?,
                g.expires_at.0
            ])
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn find_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<(CodeGrant, bool)>> {
        let h = *hash;
        self.read(move |conn| {
            let row: Option<(String, bool)> = conn
                .prepare_cached(
                    "SELECT grant_data, consumed_at IS NOT NULL FROM codes WHERE hash = ?1 AND (expires_at > ?2 OR consumed_at IS NOT NULL)",
                )
                .map_err(map_err)?
                .query_row(params![h.as_bytes().as_slice(), now.0], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(map_err)?;
            row.map(|(data, consumed)| Ok((from_json(&data)?, consumed)))
                .transpose()
        })
        .await
    }

    async fn take_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Taken> {
        let h = *hash;
        self.run(move |conn| {
            // One statement: exactly one caller sees the row flip from unconsumed to consumed.
            let fresh: Option<String> = conn
                .prepare_cached(
                    "UPDATE codes SET consumed_at = ?2 WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2
                     RETURNING grant_data",
                )
                .map_err(map_err)?
                .query_row(params![h.as_bytes().as_slice(), now.0], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            if let Some(data) = fresh {
                return Ok(Taken::Fresh(Box::new(from_json(&data)?)));
            }
            let replayed: Option<String> = conn
                .prepare_cached("SELECT grant_id FROM codes WHERE hash = ?1 AND consumed_at IS NOT NULL")
                .map_err(map_err)?
                .query_row([h.as_bytes().as_slice()], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            Ok(replayed.map_or(Taken::NotFound, |grant_id| Taken::Replayed { grant_id }))
        })
        .await
    }
}

#[async_trait]
impl Tokens for SqliteStore {
    async fn put_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()> {
        let (answer, result) = tokio::sync::oneshot::channel();
        self.submit(Job::InsertAccess(Box::new(token.clone()), answer), result)
            .await
    }

    async fn find_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<AccessTokenRecord>> {
        let h = *hash;
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ACCESS_COLS} FROM access_tokens WHERE hash = ?1 AND expires_at > ?2 AND revoked_at IS NULL AND (grant_id IS NULL OR NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = access_tokens.grant_id))"
            ))
            .map_err(map_err)?
            .query_row(params![h.as_bytes().as_slice(), now.0], read_access_token)
            .optional()
            .map_err(map_err)?
            .transpose()
        })
        .await
    }

    async fn put_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()> {
        let t = token.clone();
        self.run(move |conn| insert_refresh(conn, &t)).await
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        successor: &RefreshTokenRecord,
        now: UnixTime,
        grace_seconds: u64,
    ) -> StoreResult<Rotation> {
        let (h, next) = (*hash, successor.clone());
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let current = tx
                .prepare_cached(&format!(
                    "UPDATE refresh_tokens SET rotated_at = ?2, rotated_to = ?3
                         WHERE hash = ?1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
                           AND family_expires_at > ?2 AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)
                         RETURNING {REFRESH_COLS}"
                ))
                .map_err(map_err)?
                .query_row(
                    params![h.as_bytes().as_slice(), now.0, next.hash.as_bytes().as_slice()],
                    read_refresh_token,
                )
                .optional()
                .map_err(map_err)?
                .transpose()?;
            if let Some(old) = current {
                let mut next = next;
                next.family_id.clone_from(&old.family_id);
                next.family_expires_at = old.family_expires_at;
                insert_refresh(&tx, &next)?;
                tx.commit().map_err(map_err)?;
                return Ok(Rotation::Rotated(Box::new(old)));
            }
            let rotated: Option<(String, String, i64, Option<Vec<u8>>)> = tx
                .prepare_cached(
                    "SELECT family_id, client_id, rotated_at, rotated_to FROM refresh_tokens
                     WHERE hash = ?1 AND rotated_at IS NOT NULL",
                )
                .map_err(map_err)?
                .query_row([h.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
                .map_err(map_err)?;
            let Some((family_id, client_id, rotated_at, rotated_to)) = rotated else {
                return Ok(Rotation::NotFound);
            };
            // A retry within the grace period gets the live successor back instead of a revocation.
            if let Some(to) =
                rotated_to.filter(|_| grace_seconds > 0 && now.since(UnixTime(rotated_at)) < grace_seconds)
            {
                let live = tx
                    .prepare_cached(&format!(
                        "SELECT {REFRESH_COLS} FROM refresh_tokens WHERE hash = ?1 AND rotated_at IS NULL
                             AND revoked_at IS NULL AND expires_at > ?2 AND family_expires_at > ?2 AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)"
                    ))
                    .map_err(map_err)?
                    .query_row(params![to, now.0], read_refresh_token)
                    .optional()
                    .map_err(map_err)?
                    .transpose()?;
                if let Some(successor) = live {
                    return Ok(Rotation::Retried(Box::new(successor)));
                }
            }
            // RFC 9700 §4.14.2: a rotated token presented again means it leaked; revoke the family.
            revoke_family(&tx, &family_id, now)?;
            tx.commit().map_err(map_err)?;
            Ok(Rotation::Reused {
                family_id,
                client_id: ClientId::from_stored(client_id),
            })
        })
        .await
    }

    async fn revoke_access_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let (h, c) = (*hash, client_id.as_str().to_owned());
        self.run(move |conn| {
            let n = conn.prepare_cached("UPDATE access_tokens SET revoked_at = ?3 WHERE hash = ?1 AND client_id = ?2 AND revoked_at IS NULL").map_err(map_err)?.execute(params![h.as_bytes().as_slice(), c, now.0])
                .map_err(map_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn revoke_refresh_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let (h, c) = (*hash, client_id.as_str().to_owned());
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let family: Option<String> = tx
                .prepare_cached("SELECT family_id FROM refresh_tokens WHERE hash = ?1 AND client_id = ?2")
                .map_err(map_err)?
                .query_row(params![h.as_bytes().as_slice(), c], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            let Some(family) = family else { return Ok(false) };
            let n = revoke_family(&tx, &family, now)?;
            tx.commit().map_err(map_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn cleanup(&self, now: UnixTime, revoked_before: UnixTime, batch: u32) -> StoreResult<CleanupReport> {
        let mut report = CleanupReport::default();
        // One short statement per batch: a writer never holds the lock for long.
        let jobs: [(&str, &str); 7] = [
            (
                "codes",
                "(consumed_at IS NULL AND expires_at <= ?1) OR consumed_at <= ?2",
            ),
            ("access_tokens", "expires_at <= ?1 OR revoked_at <= ?2"),
            (
                "refresh_tokens",
                "expires_at <= ?1 OR family_expires_at <= ?1 OR revoked_at <= ?2",
            ),
            ("browser_sessions", "expires_at <= ?1"),
            ("interactions", "expires_at <= ?1"),
            (
                "login_failures",
                "window_start <= ?2 AND (locked_until IS NULL OR locked_until <= ?1)",
            ),
            // Kept while any token of the grant could still be read as live.
            (
                "revoked_grants",
                "revoked_at <= ?2 AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = revoked_grants.grant_id AND a.revoked_at IS NULL) AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = revoked_grants.grant_id AND r.revoked_at IS NULL)",
            ),
        ];
        for (i, (table, condition)) in jobs.into_iter().enumerate() {
            let key = match table {
                "interactions" => "id",
                "browser_sessions" => "token_hash",
                "login_failures" => "username",
                "revoked_grants" => "grant_id",
                _ => "hash",
            };
            loop {
                let sql = format!(
                    "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT ?3)"
                );
                let n = self
                    .run(move |conn| {
                        conn.prepare_cached(&sql)
                            .map_err(map_err)?
                            .execute(params![now.0, revoked_before.0, batch])
                            .map_err(map_err)
                    })
                    .await? as u64;
                match i {
                    0 => report.codes += n,
                    1 => report.access_tokens += n,
                    2 => report.refresh_tokens += n,
                    3 => report.sessions += n,
                    4 => report.interactions += n,
                    5 => report.login_failures += n,
                    _ => report.revoked_grants += n,
                }
                if n < u64::from(batch) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(report)
    }

    async fn find_refresh_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>> {
        let h = *hash;
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                    "SELECT {REFRESH_COLS} FROM refresh_tokens
                     WHERE hash = ?1 AND expires_at > ?2 AND family_expires_at > ?2 AND revoked_at IS NULL AND rotated_at IS NULL AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)"
                )).map_err(map_err)?.query_row(params![h.as_bytes().as_slice(), now.0],
                read_refresh_token)
            .optional()
            .map_err(map_err)?
            .transpose()
        })
        .await
    }

    async fn list_refresh_tokens(&self, now: UnixTime) -> StoreResult<Vec<RefreshTokenRecord>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {REFRESH_COLS} FROM refresh_tokens
                     WHERE expires_at > ?1 AND family_expires_at > ?1 AND revoked_at IS NULL AND rotated_at IS NULL AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id) ORDER BY issued_at"
                ))
                .map_err(map_err)?;
            let rows = stmt.query_map([now.0], read_refresh_token).map_err(map_err)?;
            rows.map(|r| r.map_err(map_err)?).collect()
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> StoreResult<u64> {
        let g = grant_id.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(map_err)?;
            let n = revoke_family(&tx, &g, now)?;
            tx.commit().map_err(map_err)?;
            Ok(n)
        })
        .await
    }
}

fn insert_access(conn: &Connection, t: &AccessTokenRecord) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO access_tokens (hash, client_id, grant_id, subject, scope, claims, auth_time, issued_at, expires_at, audience, format)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)").map_err(map_err)?.execute(params![
            t.hash.as_bytes().as_slice(),
            t.client_id.as_str(),
            t.grant_id,
            t.subject,
            t.scope.to_param(),
            to_json(&t.claims)?,
            t.auth_time.map(|a| a.0),
            t.issued_at.0,
            t.expires_at.0,
            to_json(&t.audience)?,
            t.format.as_str()
        ])
    .map_err(map_err)?;
    Ok(())
}

/// Revokes a grant: its tokens now, and (through the `revoked_grants` record every token read
/// checks) any token of it written concurrently or later.
fn revoke_family(conn: &Connection, grant_id: &str, now: UnixTime) -> StoreResult<u64> {
    conn.prepare_cached(
        "INSERT INTO revoked_grants (grant_id, revoked_at) VALUES (?1, ?2) ON CONFLICT (grant_id) DO NOTHING",
    )
    .map_err(map_err)?
    .execute(params![grant_id, now.0])
    .map_err(map_err)?;
    let a = conn
        .prepare_cached("UPDATE access_tokens SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL")
        .map_err(map_err)?
        .execute(params![grant_id, now.0])
        .map_err(map_err)?;
    let r = conn
        .prepare_cached("UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL")
        .map_err(map_err)?
        .execute(params![grant_id, now.0])
        .map_err(map_err)?;
    Ok((a + r) as u64)
}

fn insert_refresh(conn: &Connection, t: &RefreshTokenRecord) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO refresh_tokens (hash, family_id, client_id, subject, scope, claims, auth_time, session_id, issued_at, expires_at, audience, family_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)").map_err(map_err)?.execute(params![
            t.hash.as_bytes().as_slice(),
            t.family_id,
            t.client_id.as_str(),
            t.subject,
            t.scope.to_param(),
            to_json(&t.claims)?,
            t.auth_time.0,
            t.session_id,
            t.issued_at.0,
            t.expires_at.0,
            to_json(&t.audience)?,
            t.family_expires_at.0
        ])
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl Keys for SqliteStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT kid, alg, private_der, created_at, activates_at, retires_at FROM signing_keys ORDER BY created_at, kid")
                .map_err(map_err)?;
            let rows = stmt.query_map([], read_key).map_err(map_err)?;
            rows.map(|r| r.map_err(map_err)?).collect()
        })
        .await
    }

    async fn put_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let k = key.clone();
        self.run(move |conn| insert_key(conn, &k)).await
    }

    async fn rotate_key(
        &self,
        key: &SigningKeyRecord,
        expected_newest: Option<&str>,
        retire_previous_at: UnixTime,
    ) -> StoreResult<bool> {
        let (k, expected) = (key.clone(), expected_newest.map(str::to_owned));
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let newest: Option<String> = tx
                .prepare_cached(
                    "SELECT kid FROM signing_keys WHERE alg = ?1 ORDER BY created_at DESC, kid DESC LIMIT 1",
                )
                .map_err(map_err)?
                .query_row([k.alg.as_str()], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            if expected.is_some() && newest != expected {
                return Ok(false);
            }
            tx.prepare_cached(
                "UPDATE signing_keys SET retires_at = ?2 WHERE alg = ?1 AND (retires_at IS NULL OR retires_at > ?2)",
            )
            .map_err(map_err)?
            .execute(params![k.alg.as_str(), retire_previous_at.0])
            .map_err(map_err)?;
            insert_key(&tx, &k)?;
            tx.commit().map_err(map_err)?;
            Ok(true)
        })
        .await
    }

    async fn replace_key_material(&self, kid: &str, private_der: &[u8]) -> StoreResult<bool> {
        let (kid, der) = (kid.to_owned(), private_der.to_vec());
        self.run(move |conn| {
            let n = conn
                .prepare_cached("UPDATE signing_keys SET private_der = ?2 WHERE kid = ?1")
                .map_err(map_err)?
                .execute(params![kid, der])
                .map_err(map_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn replace_server_secret(&self, name: &str, value: &[u8]) -> StoreResult<bool> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.run(move |conn| {
            let n = conn
                .prepare_cached("UPDATE server_secrets SET value = ?2 WHERE name = ?1")
                .map_err(map_err)?
                .execute(params![name, value])
                .map_err(map_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn retire_key(&self, kid: &str, at: UnixTime) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.run(move |conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE signing_keys SET retires_at = ?2 WHERE kid = ?1 AND (retires_at IS NULL OR retires_at > ?2)",
                )
                .map_err(map_err)?
                .execute(params![kid, at.0])
                .map_err(map_err)?;
            let exists: Option<i64> = conn
                .prepare_cached("SELECT 1 FROM signing_keys WHERE kid = ?1")
                .map_err(map_err)?
                .query_row([&kid], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            Ok(n > 0 || exists.is_some())
        })
        .await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8], now: UnixTime) -> StoreResult<Vec<u8>> {
        let (name, candidate) = (name.to_owned(), candidate.to_vec());
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING").map_err(map_err)?.execute(params![name, candidate, now.0])
            .map_err(map_err)?;
            conn.prepare_cached("SELECT value FROM server_secrets WHERE name = ?1").map_err(map_err)?.query_row([name], |r| r.get(0)).map_err(map_err)
        })
        .await
    }
}

fn insert_key(conn: &Connection, k: &SigningKeyRecord) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at, retires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)").map_err(map_err)?.execute(params![k.kid, k.alg.as_str(), k.private_der, k.created_at.0, k.activates_at.0, k.retires_at.map(|t| t.0)])
    .map_err(|e| conflict_or(e, format!("key {}", k.kid)))?;
    Ok(())
}

#[async_trait]
impl Lockouts for SqliteStore {
    async fn login_lock(&self, username: &str, now: UnixTime) -> StoreResult<Option<UnixTime>> {
        let u = username.to_owned();
        self.read(move |conn| {
            let until: Option<Option<i64>> = conn
                .prepare_cached("SELECT locked_until FROM login_failures WHERE username = ?1")
                .map_err(map_err)?
                .query_row([u], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            Ok(until.flatten().filter(|t| *t > now.0).map(UnixTime))
        })
        .await
    }

    async fn reserve_login_attempt(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<LoginAttempt> {
        let u = username.to_owned();
        let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
        let token = attempt_token();
        self.run(move |conn| {
            // One statement (see the trait): SQLite evaluates every SET expression on the old row.
            let (granted, until) = conn
                .prepare_cached(
                    "INSERT INTO login_failures (username, failures, window_start, locked_until, pending, last_attempt)
                 VALUES (?1, 0, ?2, NULL, 1, ?5)
                 ON CONFLICT (username) DO UPDATE SET
                   failures = CASE
                     WHEN login_failures.locked_until > ?2 THEN login_failures.failures
                     WHEN login_failures.window_start + ?3 <= ?2 THEN 0
                     ELSE login_failures.failures END,
                   pending = CASE
                     WHEN login_failures.locked_until > ?2 THEN login_failures.pending
                     WHEN login_failures.window_start + ?3 <= ?2 THEN 1
                     WHEN login_failures.failures + login_failures.pending >= ?4 THEN login_failures.pending
                     ELSE login_failures.pending + 1 END,
                   last_attempt = CASE
                     WHEN login_failures.locked_until > ?2 THEN login_failures.last_attempt
                     WHEN login_failures.window_start + ?3 <= ?2 THEN ?5
                     WHEN login_failures.failures + login_failures.pending >= ?4 THEN login_failures.last_attempt
                     ELSE ?5 END,
                   window_start = CASE
                     WHEN login_failures.locked_until > ?2 THEN login_failures.window_start
                     WHEN login_failures.window_start + ?3 <= ?2 THEN ?2
                     ELSE login_failures.window_start END,
                   locked_until = CASE
                     WHEN login_failures.locked_until > ?2 THEN login_failures.locked_until
                     ELSE NULL END
                 RETURNING last_attempt, locked_until",
                )
                .map_err(map_err)?
                .query_row(params![u, now.0, window, threshold, token], |r| {
                    Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?))
                })
                .map_err(map_err)?;
            Ok(attempt_outcome(granted.as_deref() == Some(token.as_str()), until, now))
        })
        .await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<Option<UnixTime>> {
        let u = username.to_owned();
        let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO login_failures (username, failures, window_start, locked_until, pending)
                 VALUES (?1, 1, ?2, CASE WHEN ?4 <= 1 THEN ?2 + ?3 END, 0)
                 ON CONFLICT (username) DO UPDATE SET
                   pending = CASE WHEN login_failures.pending > 0 THEN login_failures.pending - 1 ELSE 0 END,
                   failures = login_failures.failures + 1,
                   locked_until = CASE
                     WHEN login_failures.locked_until > ?2 THEN login_failures.locked_until
                     WHEN login_failures.failures + 1 >= ?4 THEN ?2 + ?3
                     ELSE login_failures.locked_until END
                 RETURNING locked_until",
            )
            .map_err(map_err)?
            .query_row(params![u, now.0, window, threshold], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .map(|t| t.flatten().filter(|t| *t > now.0).map(UnixTime))
            .map_err(map_err)
        })
        .await
    }

    async fn release_login_attempts(&self, username: &str, now: UnixTime) -> StoreResult<()> {
        let u = username.to_owned();
        self.run(move |conn| {
            conn.prepare_cached(
                "UPDATE login_failures SET
                   pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END,
                   failures = CASE WHEN locked_until > ?2 THEN failures ELSE 0 END
                 WHERE username = ?1",
            )
            .map_err(map_err)?
            .execute(params![u, now.0])
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn clear_login_failures(&self, username: &str) -> StoreResult<()> {
        let u = username.to_owned();
        self.run(move |conn| {
            conn.prepare_cached("DELETE FROM login_failures WHERE username = ?1")
                .map_err(map_err)?
                .execute([u])
                .map(|_| ())
                .map_err(map_err)
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        // A read: health checks must never queue behind (or delay) writes.
        self.read(|conn| {
            conn.prepare_cached("SELECT 1")
                .map_err(map_err)?
                .query_row([], |_| Ok(()))
                .map_err(map_err)
        })
        .await
    }
}
