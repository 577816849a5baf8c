//! Encoding shared by both backends: JSON columns, scope strings, hashes and wire enums.

use crate::error::StoreError;
use gatehouse_protocol::types::{ScopeSet, TokenHash};

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(format!("encode: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("decode: {e}")))
}

pub(crate) fn parse_scope(s: &str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse(s).map_err(|e| StoreError::Internal(format!("stored scope: {e}")))
}

pub(crate) fn hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    TokenHash::from_bytes(bytes).ok_or_else(|| StoreError::Internal("stored hash is not 32 bytes".into()))
}

pub(crate) fn parse_wire<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, StoreError> {
    s.parse().map_err(StoreError::Internal)
}
