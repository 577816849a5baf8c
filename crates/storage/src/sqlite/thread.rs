//! The store thread and the checkpoint thread.
//!
//! One thread owns the writing connection and runs jobs in arrival order; callers await the
//! answer. This keeps SQLite's single writer busy without a lock convoy: `spawn_blocking` plus a
//! mutex made one blocking thread per waiting request (hundreds under load, each with its own
//! malloc arena).
//!
//! Every write is group-committed: the jobs waiting in the queue when the thread takes the next
//! one run together in one transaction, each in a savepoint of its own, and the transaction pays
//! one fsync for all of them. A job that fails is rolled back to its savepoint alone; its
//! neighbours commit. Nobody is answered before the commit is durable, so a crash loses nothing
//! that was answered. Under load this turns one fsync per write (refresh rotation, codes,
//! sessions, consents, login counters each paid their own) into one per batch; alone, a job
//! commits at once, as before.

use crate::error::StoreError;
use crate::traits::StoreResult;
use rusqlite::Connection;
use std::collections::VecDeque;

/// What a job leaves behind: whether it succeeded (a failed job's savepoint is rolled back), and
/// how to answer its caller once the commit is known (`Some` error when the commit failed).
pub(super) struct Done {
    ok: bool,
    answer: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

/// A job's work: given the connection, it runs; given an error (the batch could not begin), it
/// only prepares to answer with it.
type Work = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Done + Send>;

/// A unit of work for the store thread.
pub(super) struct Job {
    work: Work,
    /// Losing it in a crash is safe (an access token just issued: it then fails closed). A batch
    /// of such jobs alone commits without waiting for fsync.
    relaxed: bool,
}

impl Job {
    /// A job running `f` in the batch's transaction; `answer` gets its result after the commit.
    pub(super) fn new<T: Send + 'static>(
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        answer: tokio::sync::oneshot::Sender<StoreResult<T>>,
        relaxed: bool,
    ) -> Self {
        let work = Box::new(move |conn: Result<&Connection, StoreError>| {
            let result = conn.and_then(f);
            Done {
                ok: result.is_ok(),
                answer: Box::new(move |commit: Option<StoreError>| {
                    let _ = answer.send(match (commit, result) {
                        (Some(e), Ok(_)) => Err(e),
                        (_, result) => result,
                    });
                }),
            }
        });
        Self { work, relaxed }
    }
}

/// Most jobs that share one commit.
const GROUP_COMMIT_MAX: usize = 256;

/// The store thread: takes every job waiting (up to [`GROUP_COMMIT_MAX`]) and runs them as one
/// batch.
pub(super) fn store_thread(conn: &mut Connection, queue: &std::sync::mpsc::Receiver<Job>) {
    let mut sync = SyncMode::default();
    while let Ok(first) = queue.recv() {
        let mut batch = VecDeque::from([first]);
        while batch.len() < GROUP_COMMIT_MAX {
            match queue.try_recv() {
                Ok(job) => batch.push_back(job),
                Err(_) => break,
            }
        }
        while !batch.is_empty() {
            run_batch(conn, &mut sync, &mut batch);
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

/// The connection's `synchronous` setting, changed only when a batch needs the other one (a
/// PRAGMA is parsed anew each time: two per batch were 1% of a refresh-rotation profile).
#[derive(Default)]
struct SyncMode {
    /// `Some(true)` for NORMAL, `Some(false)` for FULL (as opened), `None` after a failed change.
    relaxed: Option<bool>,
}

impl SyncMode {
    fn set(&mut self, conn: &Connection, relaxed: bool) -> StoreResult<()> {
        if self.relaxed.unwrap_or(!relaxed) == relaxed {
            return Ok(());
        }
        self.relaxed = None;
        conn.pragma_update(None, "synchronous", if relaxed { "NORMAL" } else { "FULL" })?;
        self.relaxed = Some(relaxed);
        Ok(())
    }
}

fn statement(conn: &Connection, sql: &str) -> StoreResult<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs jobs from the front of `batch` in one IMMEDIATE transaction, each in a savepoint, then
/// commits and answers them. A batch of relaxed jobs alone commits with `synchronous=NORMAL` (in
/// WAL mode: durable at the next checkpoint or FULL commit), any other with FULL.
///
/// Should SQLite roll the whole transaction back itself (a full disk, an I/O error: it may, SQLite
/// documents, and then `ROLLBACK TO` has nothing to roll back to), the jobs run so far are
/// answered with that error and the rest stay in `batch` for a transaction of their own.
fn run_batch(conn: &mut Connection, sync: &mut SyncMode, batch: &mut VecDeque<Job>) {
    let relaxed = batch.iter().all(|j| j.relaxed);
    let begun = sync
        .set(conn, relaxed)
        .and_then(|()| statement(conn, "BEGIN IMMEDIATE"));
    if let Err(e) = begun {
        for job in batch.drain(..) {
            ((job.work)(Err(e.clone())).answer)(None);
        }
        return;
    }
    let mut answers = Vec::with_capacity(batch.len());
    let mut lost = None;
    while let Some(job) = batch.pop_front() {
        if let Err(e) = statement(conn, "SAVEPOINT job") {
            answers.push((job.work)(Err(e.clone())).answer);
            lost = Some(e);
            break;
        }
        // A panicking job must not take the store down with it; its caller sees an error.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.work)(Ok(&*conn))));
        let ok = matches!(&done, Ok(d) if d.ok);
        let undone = if !ok && !conn.is_autocommit() {
            statement(conn, "ROLLBACK TO job")
        } else {
            Ok(())
        }
        .and_then(|()| {
            if conn.is_autocommit() {
                Ok(())
            } else {
                statement(conn, "RELEASE job")
            }
        });
        if let Ok(done) = done {
            answers.push(done.answer);
        }
        if let Err(e) = undone {
            lost = Some(e);
            break;
        }
        if conn.is_autocommit() {
            lost = Some(StoreError::Unavailable(
                "SQLite rolled the transaction back (is the disk full?)".into(),
            ));
            break;
        }
    }
    let committed = match lost {
        Some(e) => {
            if !conn.is_autocommit() {
                let _ = statement(conn, "ROLLBACK");
            }
            Err(e)
        }
        None => statement(conn, "COMMIT").inspect_err(|_| {
            let _ = statement(conn, "ROLLBACK");
        }),
    };
    let failure = committed.err();
    for answer in answers {
        answer(failure.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(conn: &Connection, x: i64) -> StoreResult<()> {
        conn.execute("INSERT INTO t (x) VALUES (?1)", [x])?;
        Ok(())
    }

    /// A batch of jobs shares one transaction; a job that fails after writing, a duplicate and a
    /// panic each undo only their own writes, and every caller hears of its own outcome.
    #[test]
    fn a_failing_job_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)", []).unwrap();
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let mut answers = Vec::new();
        // Queued before the thread starts, so they run as one batch.
        for i in 0..100_i64 {
            let (answer, result) = tokio::sync::oneshot::channel();
            let work = move |conn: &Connection| -> StoreResult<i64> {
                match i % 10 {
                    3 => {
                        insert(conn, i)?;
                        insert(conn, i + 1000)?;
                        Err(StoreError::Internal(format!("job {i} failed after writing")))
                    }
                    5 => insert(conn, 0).map(|()| i),
                    7 if i == 47 => panic!("job {i} panicked"),
                    _ => insert(conn, i).map(|()| i),
                }
            };
            jobs.send(Job::new(work, answer, false)).unwrap();
            answers.push((i, result));
        }
        drop(jobs);
        let thread = std::thread::spawn(move || store_thread(&mut conn, &queue));
        for (i, result) in answers {
            let got = result.blocking_recv();
            match (i % 10, i) {
                (7, 47) => assert!(got.is_err(), "the panicking job's caller hears of it"),
                // Row 0 is written by job 0 (5 -> duplicate of 0).
                (3 | 5, _) => assert!(matches!(got, Ok(Err(_))), "job {i} fails: {got:?}"),
                _ => assert_eq!(got.unwrap().unwrap(), i),
            }
        }
        thread.join().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        let rows: Vec<i64> = conn
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: Vec<i64> = (0..100).filter(|i| !matches!(i % 10, 3 | 5) && *i != 47).collect();
        assert_eq!(rows, expected);
    }

    /// Each batch commits with the durability its jobs ask for, whatever the batch before it
    /// asked: `synchronous` is changed only when it differs, and never left relaxed for a durable
    /// batch.
    #[test]
    fn each_batch_commits_with_its_own_durability() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::spawn(move || store_thread(&mut conn, &queue));
        let synchronous = |relaxed: bool| {
            let (answer, result) = tokio::sync::oneshot::channel();
            let read = |conn: &Connection| -> StoreResult<i64> {
                Ok(conn.pragma_query_value(None, "synchronous", |r| r.get(0))?)
            };
            jobs.send(Job::new(read, answer, relaxed)).unwrap();
            result.blocking_recv().unwrap().unwrap()
        };
        // 2 is FULL, 1 is NORMAL.
        let seen: Vec<i64> = [false, true, true, false, false, true, false]
            .into_iter()
            .map(synchronous)
            .collect();
        assert_eq!(seen, [2, 1, 1, 2, 2, 1, 2]);
        drop(jobs);
        thread.join().unwrap();
    }
}
