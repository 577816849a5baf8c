//! The connections every task shares, each kept in a slot and replaced when it closes: point
//! reads and opaque access-token inserts are pipelined on them (one write of many statements, one
//! backend answering them in a row) instead of each waking a backend of its own.

use super::{PgStore, poisoned, pool_err};
use crate::error::StoreError;
use deadpool_postgres::Object;

impl PgStore {
    /// The shared read connection: one pooled connection kept for point reads from every task.
    pub(super) async fn shared_reader(&self) -> Result<std::sync::Arc<Object>, StoreError> {
        Self::shared(&self.reader, self.client()).await
    }

    /// The shared no-flush connection: access-token inserts from every task are pipelined on it,
    /// one backend taking them in a row (each its own statement, so one failing fails alone),
    /// instead of each waking a backend of its own.
    pub(super) async fn shared_inserter(&self) -> Result<std::sync::Arc<Object>, StoreError> {
        Self::shared(&self.inserter, async { self.fast_pool.get().await.map_err(pool_err) }).await
    }

    /// The connection kept in `slot`, or, when there is none or it closed, one from `get`.
    async fn shared(
        slot: &std::sync::Mutex<Option<std::sync::Arc<Object>>>,
        get: impl Future<Output = Result<Object, StoreError>>,
    ) -> Result<std::sync::Arc<Object>, StoreError> {
        if let Some(c) = slot.lock().map_err(|_| poisoned())?.as_ref()
            && !c.is_closed()
        {
            return Ok(std::sync::Arc::clone(c));
        }
        let fresh = std::sync::Arc::new(get.await?);
        let mut slot = slot.lock().map_err(|_| poisoned())?;
        match slot.as_ref() {
            // Another task got there first: use its connection, ours goes back to the pool.
            Some(c) if !c.is_closed() => Ok(std::sync::Arc::clone(c)),
            _ => {
                *slot = Some(std::sync::Arc::clone(&fresh));
                Ok(fresh)
            }
        }
    }
}
