//! One module per `grant_type`. Grant functions are pure: the caller passes the stored record and
//! `now`, and persists what comes back. The checks every grant shares (is the client allowed the
//! grant, is the user still there) live beside them.

pub mod authorization_code;
pub mod client_credentials;
mod common;
pub mod device_code;
pub mod refresh_token;

pub use common::{RegisteredClient, live_user};
