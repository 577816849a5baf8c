//! Opaque access-token inserts gathered into one statement (issue 20).
//!
//! Issuing an opaque access token writes one row. One `INSERT` per token costs PostgreSQL a parse,
//! a plan, a snapshot and a commit each: in the benchmark, where PostgreSQL shares the server's
//! core, that was most of a client-credentials request. Inserts go instead to one task that takes
//! every insert waiting (up to [`MOST`]) and writes them with one `INSERT … SELECT FROM unnest`
//! of column arrays, on the shared no-flush connection (`synchronous_commit = off`: a token lost
//! in a crash fails closed). While one statement runs the next batch gathers, so batches grow
//! with the load and a lone insert is not delayed. Each caller is answered when its row is
//! written; when a batch fails (a token whose client was just deleted, say) its tokens are
//! inserted one by one, so a failure is its own token's alone.

use super::{PgStore, pg_err};
use crate::error::StoreError;
use crate::model::AccessTokenRecord;
use crate::ops::Db;
use crate::sql::{self, Value};
use crate::traits::StoreResult;
use tokio::sync::{mpsc, oneshot};

/// Most tokens in one statement.
const MOST: usize = 64;
/// Most inserts waiting for the task; past this, callers wait to hand theirs over.
const WAITING: usize = 4096;

/// An insert waiting for the task, and where its answer goes.
pub(super) struct Insert {
    token: AccessTokenRecord,
    done: oneshot::Sender<StoreResult<()>>,
}

/// The sending side; the task is started with the first insert (it needs the runtime).
#[derive(Default)]
pub(super) struct Inserts(std::sync::OnceLock<mpsc::Sender<Insert>>, Counts);

/// What the task did, for tests and diagnostics.
#[derive(Default)]
struct Counts {
    /// Statements of more than one token that succeeded, and the tokens they wrote.
    batches: std::sync::atomic::AtomicU64,
    batched: std::sync::atomic::AtomicU64,
    /// Batches that failed and were written one by one.
    split: std::sync::atomic::AtomicU64,
}

impl PgStore {
    /// `(statements of several tokens, tokens they wrote, failed batches written one by one)`
    /// since the store was opened.
    #[must_use]
    pub fn access_token_batches(&self) -> (u64, u64, u64) {
        let c = &self.inserts.1;
        let get = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        (get(&c.batches), get(&c.batched), get(&c.split))
    }

    /// Inserts an access token through the batching task.
    pub(super) async fn insert_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()> {
        let sender = self.inserts.0.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(WAITING);
            tokio::spawn(run(
                self.without_inserts(),
                std::sync::Arc::clone(&self.inserts),
                receiver,
            ));
            sender
        });
        let (done, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the access-token writer stopped".into());
        sender
            .send(Insert {
                token: token.clone(),
                done,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The task: takes what is waiting, writes it, answers, and again, until every sender is gone.
async fn run(store: PgStore, counts: std::sync::Arc<Inserts>, mut waiting: mpsc::Receiver<Insert>) {
    let mut batch = Vec::with_capacity(MOST);
    while waiting.recv_many(&mut batch, MOST).await > 0 {
        let results = store.insert_batch(&batch, &counts.1).await;
        for (insert, result) in batch.drain(..).zip(results) {
            // A caller that gave up (its request was cancelled) needs no answer.
            let _ = insert.done.send(result);
        }
    }
}

impl PgStore {
    /// This store as the task holds it: without the sender, so the task ends once every other
    /// handle on the store is gone.
    fn without_inserts(&self) -> Self {
        Self {
            inserts: std::sync::Arc::default(),
            ..self.clone()
        }
    }

    /// Writes `batch`; one result per token, in order.
    async fn insert_batch(&self, batch: &[Insert], counts: &Counts) -> Vec<StoreResult<()>> {
        use std::sync::atomic::Ordering::Relaxed;
        if batch.len() > 1 {
            match self.insert_many(batch).await {
                Ok(()) => {
                    counts.batches.fetch_add(1, Relaxed);
                    counts.batched.fetch_add(batch.len() as u64, Relaxed);
                    return batch.iter().map(|_| Ok(())).collect();
                }
                Err(e) => {
                    counts.split.fetch_add(1, Relaxed);
                    tracing::debug!(error = %e, tokens = batch.len(), "batched insert failed; inserting one by one");
                }
            }
        }
        // Each its own statement, pipelined on the shared connection.
        let tasks: Vec<_> = batch
            .iter()
            .map(|insert| {
                let (store, token) = (self.clone(), insert.token.clone());
                tokio::spawn(async move { store.insert_one(&token).await })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(
                task.await
                    .unwrap_or_else(|e| Err(StoreError::Internal(format!("access-token insert: {e}")))),
            );
        }
        results
    }

    /// One token, one statement.
    async fn insert_one(&self, token: &AccessTokenRecord) -> StoreResult<()> {
        let c = self.shared_inserter().await?;
        super::Pg(&*c)
            .exec(&sql::tokens::INSERT_ACCESS, &sql::tokens::access_params(token)?)
            .await
            .map(|_| ())
    }

    /// One statement for every token of `batch`, or an error for all of them.
    async fn insert_many(&self, batch: &[Insert]) -> StoreResult<()> {
        let rows = batch
            .iter()
            .map(|i| sql::tokens::access_params(&i.token))
            .collect::<StoreResult<Vec<_>>>()?;
        let columns: Vec<Vec<&Value<'_>>> = (0..12).map(|c| rows.iter().map(|row| &row[c]).collect()).collect();
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = columns
            .iter()
            .map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let c = self.shared_inserter().await?;
        let stmt = c
            .prepare_cached(sql::tokens::INSERT_ACCESS_MANY.postgres())
            .await
            .map_err(pg_err)?;
        let written = c.execute(&stmt, &params).await.map_err(pg_err)?;
        if written == batch.len() as u64 {
            Ok(())
        } else {
            Err(StoreError::Internal(format!(
                "{written} of {} access tokens written",
                batch.len()
            )))
        }
    }
}
