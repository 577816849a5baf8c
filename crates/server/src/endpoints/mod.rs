//! One module per endpoint; each handler parses at the edge and stays thin.

pub mod authorize;
pub mod discovery;
pub mod health;
pub mod introspection;
pub mod login;
pub mod revocation;
pub mod token;
pub mod userinfo;
