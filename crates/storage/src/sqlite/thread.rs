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
use rusqlite::{Connection, TransactionBehavior};

/// A unit of work for the store thread.
pub(super) enum Job {
    /// Any statement or transaction, run alone.
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
    /// An access-token insert: consecutive ones share a commit (group commit).
    InsertAccess(Box<AccessTokenRecord>, tokio::sync::oneshot::Sender<StoreResult<()>>),
}

/// Most access-token inserts that share one commit.
const GROUP_COMMIT_MAX: usize = 256;

/// The store thread: runs jobs in arrival order. Access-token inserts waiting in the queue are
/// gathered into one transaction, so one commit carries many tokens (group commit); a job of
/// another kind ends the group and runs after it.
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
pub(super) fn checkpoint_thread(conn: &Connection, stopped: &std::sync::mpsc::Receiver<()>) {
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
    let insert = |conn: &Connection, t: &AccessTokenRecord| -> StoreResult<()> {
        exec(conn, &sql::tokens::INSERT_ACCESS, &sql::tokens::access_params(t)?)?;
        Ok(())
    };
    let outcome = conn
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(StoreError::from)
        .and_then(|()| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let results: Vec<StoreResult<()>> = group.iter().map(|(t, _)| insert(&tx, t)).collect();
            tx.commit()?;
            Ok(results)
        });
    let outcome = match conn.pragma_update(None, "synchronous", "FULL") {
        Ok(()) => outcome,
        Err(e) => Err(e.into()),
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
