//! Raw request parameters into typed requests. The only place that reads parameter strings.

pub mod authorize;
pub mod client_auth;
mod params;
pub mod request_object;
pub mod resource;
pub mod revocation;
pub mod token;

pub use params::{MAX_PARAMS, MAX_VALUE_LEN, Params};
