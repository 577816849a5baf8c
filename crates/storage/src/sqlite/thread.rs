//! The store thread and the checkpoint thread.
//!
//! One thread owns the writing connection and runs jobs in arrival order; callers await the
//! answer. This keeps SQLite's single writer busy without a lock convoy: `spawn_blocking` plus a
//! mutex made one blocking thread per waiting request (hundreds under load, each with its own
//! malloc arena).

use super::exec;
use crate::error::StoreError;
use crate::model::AccessTokenRecord;
use crate::sql;
use crate::traits::StoreResult;
use gatehouse_protocol::types::UnixTime;
use rusqlite::{Connection, TransactionBehavior};

/// A unit of work for the store thread.
pub(super) enum Job {
    /// Any statement or transaction, run alone.
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
    /// One statement of the hot path: consecutive ones share a commit (group commit).
    Grouped(Grouped),
}

/// The statements that share commits: each is one statement, so one failing undoes only itself.
pub(super) enum Grouped {
    /// An access-token insert.
    InsertAccess(Box<AccessTokenRecord>, tokio::sync::oneshot::Sender<StoreResult<()>>),
    /// A single-use value (`first_use`): `(id, purpose, expires_at, now)`, answering whether it
    /// was new.
    FirstUse(
        Box<(gatehouse_protocol::types::TokenHash, String, UnixTime, UnixTime)>,
        tokio::sync::oneshot::Sender<StoreResult<bool>>,
    ),
}

/// Most statements that share one commit.
const GROUP_COMMIT_MAX: usize = 256;

/// The store thread: runs jobs in arrival order. Grouped statements waiting in the queue are
/// gathered into one transaction, so one commit carries many (group commit); a job of another
/// kind ends the group and runs after it.
pub(super) fn store_thread(conn: &mut Connection, queue: &std::sync::mpsc::Receiver<Job>) {
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
            Job::Grouped(first) => {
                let mut group = vec![first];
                while group.len() < GROUP_COMMIT_MAX {
                    match queue.try_recv() {
                        Ok(Job::Grouped(g)) => group.push(g),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_group(conn, group)));
            }
        }
    }
}

/// How often the checkpoint thread copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] until the store thread ends.
/// PASSIVE never waits for readers or the writer.
pub(super) fn checkpoint_thread(conn: &Connection, stopped: &std::sync::mpsc::Receiver<()>) {
    let _ = conn.busy_timeout(std::time::Duration::from_millis(100));
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        // Busy (another process checkpointing) or failed: the next round tries again.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

/// Runs a group in one transaction. A statement that fails (say a token of a client just deleted)
/// fails alone: SQLite undoes only the failing statement, and its caller gets the error.
///
/// A group of access tokens alone commits without waiting for fsync (`synchronous=NORMAL` in WAL
/// mode: durable at the next checkpoint or FULL commit). A crash may lose a token just issued; it
/// then fails closed (introspection says inactive). A group with a single-use value commits FULL:
/// forgetting one would let a replay through.
fn run_group(conn: &mut Connection, group: Vec<Grouped>) {
    let relaxed = group.iter().all(|g| matches!(g, Grouped::InsertAccess(..)));
    let run = |conn: &Connection, g: &Grouped| -> StoreResult<bool> {
        match g {
            Grouped::InsertAccess(t, _) => {
                exec(conn, &sql::tokens::INSERT_ACCESS, &sql::tokens::access_params(t)?)?;
                Ok(true)
            }
            Grouped::FirstUse(v, _) => {
                let (id, purpose, expires_at, now) = &**v;
                let params = crate::sql::values![id, purpose.as_str(), *expires_at, *now];
                Ok(exec(conn, &sql::replays::FIRST_USE, &params)? == 1)
            }
        }
    };
    let sync = if relaxed { "NORMAL" } else { "FULL" };
    let outcome = conn
        .pragma_update(None, "synchronous", sync)
        .map_err(StoreError::from)
        .and_then(|()| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let results: Vec<StoreResult<bool>> = group.iter().map(|g| run(&tx, g)).collect();
            tx.commit()?;
            Ok(results)
        });
    let outcome = match conn.pragma_update(None, "synchronous", "FULL") {
        Ok(()) => outcome,
        Err(e) => Err(e.into()),
    };
    let results: Vec<StoreResult<bool>> = match outcome {
        Ok(results) => results,
        Err(e) => group.iter().map(|_| Err(e.clone())).collect(),
    };
    for (g, result) in group.into_iter().zip(results) {
        match g {
            Grouped::InsertAccess(_, answer) => {
                let _ = answer.send(result.map(|_| ()));
            }
            Grouped::FirstUse(_, answer) => {
                let _ = answer.send(result);
            }
        }
    }
}
