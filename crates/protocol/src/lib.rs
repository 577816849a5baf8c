//! Pure OAuth 2.1 / OpenID Connect logic for Gatehouse: protocol nouns as types, request parsing,
//! grant decisions and metadata. No I/O, no async, no clock reads: callers pass `now` and the
//! stored records in, and persist what comes back.

pub mod claims;
pub mod discovery;
pub mod error;
pub mod grant;
pub mod request;
pub mod types;

pub use error::Error;
