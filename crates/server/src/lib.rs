//! The Gatehouse server: actix-web endpoints, login and consent pages, configuration, keys, and
//! the `gatehouse` command line. Decisions live in `gatehouse-protocol`, persistence in
//! `gatehouse-storage`; this crate does the I/O between them.
//!
//! Layout, by the path of a request:
//! - `app.rs` builds the state and serves; `http/` is the HTTP edge: `routes.rs` (every route,
//!   404/405), `middleware.rs` (request id, access log, metrics), `params.rs`, `cookies.rs`,
//!   `pages.rs`, and `error.rs`, the only place an error response is rendered (JSON, HTML page,
//!   authorize redirect) and counted.
//! - `endpoints/`: one module per endpoint, each thin: parse, decide (in `protocol`), persist,
//!   answer; `endpoints/token/` holds one file per grant. No endpoint imports another: what the
//!   browser endpoints share is `interaction.rs`, what the client-authenticating ones share is
//!   `client_auth.rs`.
//! - `issue.rs` mints codes and tokens; `keys.rs` (+ `keys/rotation.rs`) the signing keys;
//!   `seal.rs` encryption at rest; `passwords.rs` Argon2; `protect.rs` client addresses and rate
//!   limits; `probe.rs` the health checks; `metrics.rs` the Prometheus registry.
//! - `state.rs` the shared state; `clock.rs` the injectable clock (read once per request);
//!   `random.rs` every random value; `background.rs` cleanup and key reload loops.
//! - `config/` the settings table, its reader and the TOML file; `store.rs` opens the configured
//!   store; `cli/` the `gatehouse` subcommands.

pub mod app;
pub mod authorization;
pub mod background;
pub mod cli;
pub mod client_auth;
pub mod client_keys;
pub mod clients;
pub mod clock;
pub mod config;
pub mod csrf;
pub mod doctor;
pub mod documents;
pub mod dpop;
pub mod endpoints;
pub mod http;
pub mod interaction;
pub mod issue;
pub mod keys;
pub mod logging;
pub mod logout;
pub mod metrics;
pub mod nonces;
pub mod outbound;
pub mod passwords;
pub mod probe;
pub mod protect;
pub mod random;
pub mod registration;
pub mod seal;
pub mod signin;
pub mod state;
pub mod store;
