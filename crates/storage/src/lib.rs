//! Persistence for Gatehouse: small store traits split by concern, each documenting its contract,
//! an embedded SQLite backend, and the conformance suite every backend must pass.

mod codec;
pub mod conformance;
mod error;
mod model;
pub mod postgres;
pub mod sqlite;
mod traits;

pub use error::StoreError;
pub use model::*;
pub use traits::*;
