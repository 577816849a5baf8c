//! Pure OAuth 2.1 / OpenID Connect logic for Gatehouse: protocol nouns as types, request parsing,
//! grant decisions and metadata. No I/O, no async, no clock reads: callers pass `now` and the
//! stored records in, and persist what comes back.
//!
//! Layout: `types/` the protocol nouns (client ids, redirect URIs, scopes, PKCE, hashes), valid by
//! construction; `request/` raw parameters into typed requests (authorize, token, revocation,
//! client authentication, resource indicators); `grant/` one module per grant with its decisions;
//! `claims.rs` ID token and userinfo claims; `discovery.rs` the metadata document; `error.rs` the
//! RFC error codes, statuses and descriptions.

pub mod claims;
pub mod client_jwt;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod grant;
pub mod logout;
pub mod registration;
pub mod request;
#[cfg(test)]
mod test_keys;
pub mod types;

pub use error::Error;
