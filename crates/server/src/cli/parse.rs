//! Argument parsers of the client commands: each names the rule a bad value breaks. An empty
//! value of an `optional` parser means "remove" (`client update --backchannel-logout-uri ""`).

use gatehouse_protocol::types::{BackchannelUri, JwksUri, RedirectUri, ScopeSet, TokenEndpointAuthMethod};

pub(super) fn parse_redirect_uri(s: &str) -> Result<RedirectUri, String> {
    RedirectUri::parse(s).map_err(|e| e.description())
}

pub(super) fn parse_backchannel_uri(s: &str) -> Result<BackchannelUri, String> {
    BackchannelUri::parse(s).map_err(|e| e.description())
}

pub(super) fn parse_jwks_uri(s: &str) -> Result<JwksUri, String> {
    JwksUri::parse(s).map_err(|e| e.description())
}

pub(super) fn parse_optional_jwks_uri(s: &str) -> Result<Option<JwksUri>, String> {
    optional(s, parse_jwks_uri)
}

/// A token endpoint authentication method; `client_secret_jwt` is named and refused with the reason.
pub(super) fn parse_auth_method(s: &str) -> Result<TokenEndpointAuthMethod, String> {
    if s == "client_secret_jwt" {
        return Err("client_secret_jwt is not offered: it needs the client secret in the clear on the server, and Gatehouse stores only hashes of secrets; use private_key_jwt (the client keeps its private key, the server holds only the public one)".into());
    }
    s.parse()
}

pub(super) fn parse_optional_redirect_uri(s: &str) -> Result<Option<RedirectUri>, String> {
    optional(s, parse_redirect_uri)
}

pub(super) fn parse_optional_backchannel_uri(s: &str) -> Result<Option<BackchannelUri>, String> {
    optional(s, parse_backchannel_uri)
}

fn optional<T>(s: &str, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if s.is_empty() { Ok(None) } else { parse(s).map(Some) }
}

pub(super) fn parse_resource(s: &str) -> Result<String, String> {
    let p = gatehouse_protocol::request::Params::from_pairs([("resource", s)]);
    gatehouse_protocol::request::resource::parse_resources(&p)
        .map(|_| s.to_owned())
        .map_err(|e| e.description())
}

/// A registered assertion algorithm: RS256, PS256, ES256 or EdDSA.
pub(super) fn parse_assertion_alg(s: &str) -> Result<String, String> {
    gatehouse_protocol::client_jwt::parse_alg(s).map(|_| s.to_owned())
}

/// As [`parse_assertion_alg`]; "" removes the registered one.
pub(super) fn parse_optional_assertion_alg(s: &str) -> Result<Option<String>, String> {
    optional(s, parse_assertion_alg)
}

/// A client's public keys from a JWKS file, checked (public keys only, supported types).
pub(super) fn read_jwks(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--jwks-file {}: cannot read it: {e}", path.display()))?;
    gatehouse_protocol::client_jwt::ClientKeys::parse(&text)
        .map_err(|e| anyhow::anyhow!("--jwks-file {}: {e}", path.display()))?;
    Ok(text)
}

/// The key ids of stored keys, for `client show`.
pub(super) fn key_ids(jwks: Option<&str>) -> Vec<String> {
    jwks.and_then(|j| gatehouse_protocol::client_jwt::ClientKeys::parse(j).ok())
        .map(|k| k.ids())
        .unwrap_or_default()
}

pub(super) fn parse_scope(s: &str) -> Result<ScopeSet, String> {
    ScopeSet::parse(s).map_err(|e| e.description())
}

/// A client_id argument.
pub(super) fn client_id(id: &str) -> anyhow::Result<gatehouse_protocol::types::ClientId> {
    gatehouse_protocol::types::ClientId::parse(id).map_err(|e| anyhow::anyhow!("client_id: {}", e.description()))
}

/// Grant types, each once, in a stable order.
pub(super) fn dedup(mut v: Vec<gatehouse_protocol::types::GrantType>) -> Vec<gatehouse_protocol::types::GrantType> {
    v.sort();
    v.dedup();
    v
}

/// A signing algorithm, or "" for none.
pub(super) fn parse_optional_signing_alg(s: &str) -> Result<Option<gatehouse_protocol::types::SigningAlg>, String> {
    if s.is_empty() { Ok(None) } else { s.parse().map(Some) }
}

/// A number of seconds, or "" for none.
pub(super) fn parse_optional_seconds(s: &str) -> Result<Option<u64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("{s} is not a whole number of seconds"))
}
