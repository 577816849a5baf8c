//! Store failures, split by what the caller should do about them.

/// Why a store call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (a client id, a username, a scope name).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The store cannot be reached or is busy; the request may be retried later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupted data. Logged, answered as `server_error`.
    #[error("store failure: {0}")]
    Internal(String),
}
