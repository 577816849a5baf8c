//! A store failure as a protocol error, counted in `gatehouse_store_errors_total`.

use gatehouse_protocol::Error;
use gatehouse_storage::StoreError;

/// A store failure as a protocol error: unavailability is retryable, the rest is a server error
/// whose detail is logged but never sent.
#[must_use]
pub fn store_error(e: StoreError) -> Error {
    let kind = match &e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Conflict(_) => "conflict",
        StoreError::Internal(_) => "internal",
    };
    crate::metrics::METRICS.store_errors.with_label_values(&[kind]).inc();
    match e {
        StoreError::Unavailable(detail) => {
            tracing::warn!(detail = %detail, "store unavailable");
            Error::TemporarilyUnavailable("the data store is unavailable; retry shortly".into())
        }
        StoreError::Conflict(detail) | StoreError::Internal(detail) => Error::Server(detail),
    }
}
