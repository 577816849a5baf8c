//! Persistence for Gatehouse: small store traits split by concern, each documenting its contract,
//! an embedded SQLite backend, a PostgreSQL backend, and the conformance suite every backend must
//! pass.
//!
//! Layout:
//! - `traits.rs`, `model.rs`, `error.rs`: the contracts, the records and the errors.
//! - `sql/`: every SQL statement and parameter list, once, by concern (placeholders `?N`, turned
//!   into PostgreSQL's `$N` once per statement); `decode.rs`: row → record, once, over both
//!   drivers' rows; `ops.rs`: the operations of several statements (refresh rotation, family
//!   revocation, key rotation, cleanup…), once, over either backend's connection.
//! - `sqlite/`: the embedded store (store thread, group commit, checkpoints, migrations);
//!   `postgres/`: the pooled store (TLS, client cache, migrations). Each runs the statements
//!   of `sql/` and says which run where and in what transaction.
//! - `conformance.rs`: the contracts both backends are tested against.

mod cache;
mod codec;
pub mod conformance;
mod decode;
mod error;
mod model;
mod ops;
pub mod postgres;
mod sql;
pub mod sqlite;
mod traits;

pub use error::StoreError;
pub use model::*;
pub use traits::*;
