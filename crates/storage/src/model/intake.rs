//! What clients send besides credentials: pushed authorization requests (RFC 9126), and the keys
//! fetched from their `jwks_uri`.

use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

/// An authorization request pushed to `/oauth/par`, kept until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    /// SHA-256 of its `request_uri`.
    pub hash: TokenHash,
    /// The client that pushed it: only it may use the `request_uri`.
    pub client_id: ClientId,
    /// The request's parameters, as the server encoded them.
    pub params: String,
    /// When the `request_uri` stops being accepted at `/oauth/authorize`.
    pub expires_at: UnixTime,
}

/// The last fetch of a client's `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksFetch {
    /// The client.
    pub client_id: ClientId,
    /// The URI fetched.
    pub uri: String,
    /// When.
    pub fetched_at: UnixTime,
    /// The key ids of the last successful fetch.
    pub key_ids: Vec<String>,
    /// Why this fetch failed; `None` when it succeeded.
    pub error: Option<String>,
}
