//! The Gatehouse server: actix-web endpoints, login and consent pages, configuration, keys, and
//! the `gatehouse` command line.

pub mod app;
pub mod background;
pub mod cli;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod endpoints;
pub mod http;
pub mod interaction;
pub mod issue;
pub mod keys;
pub mod metrics;
pub mod passwords;
pub mod probe;
pub mod protect;
pub mod random;
pub mod seal;
pub mod state;
pub mod store;
