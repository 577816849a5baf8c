//! Opaque access-token inserts, gathered (`gather.rs`) into one `INSERT … SELECT FROM unnest` of
//! column arrays on the shared no-flush connection (`synchronous_commit = off`: a token lost in a
//! crash fails closed). When a batch fails (a token whose client was just deleted, say) its tokens
//! are inserted one by one, so a failure is its own token's alone.

use super::{PgStore, pg_err};
use crate::error::StoreError;
use crate::model::AccessTokenRecord;
use crate::ops::Db;
use crate::sql::{self, Value};
use crate::traits::StoreResult;

/// The insert batch; holds the store without its gathers, so the task ends with the last handle.
pub(super) struct Inserts {
    store: PgStore,
    /// Batches that failed and were written one by one.
    split: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl PgStore {
    /// Inserts an access token through the batching task.
    pub(super) async fn insert_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()> {
        let batch = || Inserts {
            store: self.without_gathers(),
            split: std::sync::Arc::clone(&self.gathers.split),
        };
        self.gathers.inserts.call(token.clone(), batch).await
    }

    /// One token, one statement.
    async fn insert_one(&self, token: &AccessTokenRecord) -> StoreResult<()> {
        let c = self.shared_inserter().await?;
        super::Pg(&*c)
            .exec(&sql::tokens::INSERT_ACCESS, &sql::tokens::access_params(token)?)
            .await
            .map(|_| ())
    }

    /// One statement for every token, or an error for all of them.
    async fn insert_many(&self, tokens: &[AccessTokenRecord]) -> StoreResult<()> {
        let rows = tokens
            .iter()
            .map(sql::tokens::access_params)
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
        if written == tokens.len() as u64 {
            Ok(())
        } else {
            Err(StoreError::Internal(format!(
                "{written} of {} access tokens written",
                tokens.len()
            )))
        }
    }
}

impl super::gather::Batch for Inserts {
    type Call = AccessTokenRecord;
    type Answer = ();

    async fn run(&self, tokens: &[AccessTokenRecord]) -> Vec<StoreResult<()>> {
        if tokens.len() > 1 {
            match self.store.insert_many(tokens).await {
                Ok(()) => return tokens.iter().map(|_| Ok(())).collect(),
                Err(e) => {
                    self.split.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(error = %e, tokens = tokens.len(), "batched insert failed; inserting one by one");
                }
            }
        }
        // Each its own statement, pipelined on the shared connection.
        let tasks: Vec<_> = tokens
            .iter()
            .map(|token| {
                let (store, token) = (self.store.clone(), token.clone());
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
}
