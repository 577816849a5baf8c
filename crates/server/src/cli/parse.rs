//! Argument parsers of the client commands: each names the rule a bad value breaks. An empty
//! value of an `optional` parser means "remove" (`client update --backchannel-logout-uri ""`).

use gatehouse_protocol::types::{BackchannelUri, RedirectUri, ScopeSet};

pub(super) fn parse_redirect_uri(s: &str) -> Result<RedirectUri, String> {
    RedirectUri::parse(s).map_err(|e| e.description())
}

pub(super) fn parse_backchannel_uri(s: &str) -> Result<BackchannelUri, String> {
    BackchannelUri::parse(s).map_err(|e| e.description())
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

pub(super) fn parse_scope(s: &str) -> Result<ScopeSet, String> {
    ScopeSet::parse(s).map_err(|e| e.description())
}
