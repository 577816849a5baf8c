//! The batching tasks of a store (`gather.rs`): their queues, and what they did.

/// Statements of more than one access token, and the tokens they took, since the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batches {
    pub insert_statements: u64,
    pub inserted: u64,
    /// Insert batches that failed and were written one by one.
    pub split: u64,
    pub lookup_statements: u64,
    pub looked_up: u64,
}

/// The batching tasks' queues, one per kind.
#[derive(Default)]
pub(super) struct Gathers {
    pub(super) inserts: std::sync::Arc<super::gather::Gather<super::inserts::Inserts>>,
    pub(super) lookups: std::sync::Arc<super::gather::Gather<super::lookups::Lookups>>,
    /// Insert batches that failed and were written one by one.
    pub(super) split: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl super::PgStore {
    /// What the batching tasks did since the store was opened (see `gather.rs`).
    #[must_use]
    pub fn access_token_batches(&self) -> Batches {
        let get = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        let g = &self.gathers;
        Batches {
            insert_statements: get(&g.inserts.counts.batches),
            inserted: get(&g.inserts.counts.batched),
            split: get(&g.split),
            lookup_statements: get(&g.lookups.counts.batches),
            looked_up: get(&g.lookups.counts.batched),
        }
    }

    /// This store as a batching task holds it: without the queues, so the task ends once every
    /// other handle on the store is gone.
    pub(super) fn without_gathers(&self) -> Self {
        Self {
            gathers: std::sync::Arc::default(),
            ..self.clone()
        }
    }
}
