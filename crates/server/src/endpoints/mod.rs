//! One module per endpoint; each handler parses at the edge and stays thin. The steps the browser
//! endpoints share (authorize, login, consent) live in [`crate::interaction`], so no endpoint
//! imports another.

pub mod assets;
pub mod authorize;
pub mod consent;
pub mod device;
pub mod device_authorization;
pub mod discovery;
pub mod health;
pub mod introspection;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod par;
pub mod register;
pub mod revocation;
pub mod token;
pub mod userinfo;
