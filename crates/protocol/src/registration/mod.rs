//! Client metadata (RFC 7591 §2, OpenID Connect Dynamic Client Registration 1.0 §2): the one
//! model of what a client is, read from a registration request (`/oauth/register`, RFC 7592
//! `PUT`) or a Client ID Metadata Document, and written out by registration responses and
//! `gatehouse client show --json`.
//!
//! Reading is member by member, so every refusal names the member at fault; members this server
//! does not know are ignored (RFC 7591 §2). What a self-registered client may ask for is bounded by
//! a [`Policy`]: scopes, grants, and whether it may be public.

use crate::client_jwt::{ClientKeys, parse_alg};
use crate::error::Error;
use crate::types::{BackchannelUri, GrantType, JwksUri, RedirectUri, ScopeSet, SigningAlg, TokenEndpointAuthMethod};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[cfg(test)]
mod tests;

/// Most redirect URIs (and post-logout redirect URIs) one client may register.
pub const MAX_URIS: usize = 10;
/// Longest URI accepted in a metadata member.
pub const MAX_URI_LEN: usize = 2000;
/// Longest `client_name`.
pub const MAX_NAME_LEN: usize = 100;
/// Most `contacts`.
pub const MAX_CONTACTS: usize = 10;

/// What self-registered clients of one kind may be: configured by the operator
/// (`GATEHOUSE_REGISTRATION_POLICIES`), named by an initial access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name.
    pub name: String,
    /// The scopes its clients may register (and get, when they name none).
    pub scopes: ScopeSet,
    /// The grants its clients may register.
    pub grant_types: Vec<GrantType>,
    /// Whether its clients may be public (`token_endpoint_auth_method: none`).
    pub public_clients: bool,
    /// Resources (RFC 8707) its clients may ask tokens for: an MCP server's URL, say.
    pub resources: Vec<String>,
}

/// Where metadata comes from; documents have stricter rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A registration request (RFC 7591 §3.1) or its replacement (RFC 7592 §2.2).
    Registration,
    /// A Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document §4): no shared
    /// secret can exist, so only `none` and `private_key_jwt`, and `none` when unnamed.
    Document,
}

/// Self-asserted, display-only members. Never fetched by the server and never trusted: the
/// consent page shows them as what the client says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    /// `logo_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// `client_uri`: the client's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// `policy_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// `tos_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// `contacts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
}

impl About {
    /// Whether nothing is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A client's metadata, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    /// `redirect_uris`.
    pub redirect_uris: Vec<RedirectUri>,
    /// `grant_types`; `response_types` follows from them (`code` with `authorization_code`).
    pub grant_types: Vec<GrantType>,
    /// `token_endpoint_auth_method`.
    pub auth_method: TokenEndpointAuthMethod,
    /// `token_endpoint_auth_signing_alg`.
    pub auth_signing_alg: Option<String>,
    /// `jwks`, as JSON text of public keys.
    pub jwks: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<JwksUri>,
    /// `client_name`.
    pub client_name: Option<String>,
    /// The display-only members.
    pub about: About,
    /// `scope`.
    pub scope: ScopeSet,
    /// `post_logout_redirect_uris`.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// `backchannel_logout_uri`.
    pub backchannel_logout_uri: Option<BackchannelUri>,
    /// `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: bool,
    /// `id_token_signed_response_alg`.
    pub id_token_alg: SigningAlg,
    /// `userinfo_signed_response_alg`: userinfo answers with a signed JWT (OIDC Core §5.3.2).
    pub userinfo_alg: Option<SigningAlg>,
    /// `request_object_signing_alg`.
    pub request_object_signing_alg: Option<String>,
    /// `default_max_age` in seconds, used when a request names no `max_age`.
    pub default_max_age: Option<u64>,
    /// `require_auth_time`.
    pub require_auth_time: bool,
    /// `require_pushed_authorization_requests` (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// `dpop_bound_access_tokens` (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
}

/// An `invalid_client_metadata` naming the member.
fn bad(member: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidClientMetadata(format!("{member}: {why}").into())
}

/// The members of a JSON object, read one by one with errors naming them.
struct Members<'a>(&'a Map<String, Value>);

impl Members<'_> {
    /// A member that is absent or `null` counts as absent (RFC 7591 §2 allows omitting any).
    fn get(&self, member: &str) -> Option<&Value> {
        self.0.get(member).filter(|v| !v.is_null())
    }

    fn string(&self, member: &str) -> Result<Option<&str>, Error> {
        match self.get(member) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad(member, "must be a string")),
        }
    }

    fn strings(&self, member: &str, most: usize) -> Result<Option<Vec<&str>>, Error> {
        let Some(value) = self.get(member) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(bad(member, "must be an array of strings"));
        };
        if items.len() > most {
            return Err(bad(member, format!("at most {most} values are accepted")));
        }
        let strings = items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| bad(member, "must be an array of strings")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(strings))
    }

    fn boolean(&self, member: &str) -> Result<Option<bool>, Error> {
        match self.get(member) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(bad(member, "must be true or false")),
        }
    }

    fn seconds(&self, member: &str) -> Result<Option<u64>, Error> {
        match self.get(member) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|s| *s <= 10 * 365 * 86_400)
                .map(Some)
                .ok_or_else(|| bad(member, "must be a whole number of seconds, at most ten years")),
        }
    }

    fn https_uri(&self, member: &str) -> Result<Option<String>, Error> {
        let Some(uri) = self.string(member)? else {
            return Ok(None);
        };
        let valid = uri.len() <= MAX_URI_LEN
            && url::Url::parse(uri)
                .is_ok_and(|u| u.scheme() == "https" && u.host().is_some() && u.username().is_empty());
        if !valid {
            return Err(bad(
                member,
                format!("{uri} is not an https URL (at most {MAX_URI_LEN} characters)"),
            ));
        }
        Ok(Some(uri.to_owned()))
    }

    fn signing_alg(&self, member: &str) -> Result<Option<SigningAlg>, Error> {
        self.string(member)?
            .map(|s| s.parse::<SigningAlg>().map_err(|e| bad(member, e)))
            .transpose()
    }

    fn client_alg(&self, member: &str) -> Result<Option<String>, Error> {
        self.string(member)?
            .map(|s| parse_alg(s).map(|_| s.to_owned()).map_err(|e| bad(member, e)))
            .transpose()
    }
}

/// Characters that make a shown name read differently from what it is: controls, and the
/// invisible direction overrides, isolates and marks (a name could otherwise display reversed).
fn deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// A redirect URI a client registers: the rules of [`RedirectUri::parse`], no wildcard, bounded.
fn redirect_uri(uri: &str) -> Result<RedirectUri, Error> {
    if uri.contains('*') {
        return Err(Error::InvalidRedirectUri(
            format!("{uri} contains a wildcard; register every redirect URI exactly").into(),
        ));
    }
    if uri.len() > MAX_URI_LEN {
        return Err(Error::InvalidRedirectUri(
            format!("a redirect URI is longer than {MAX_URI_LEN} characters").into(),
        ));
    }
    RedirectUri::parse(uri).map_err(|e| Error::InvalidRedirectUri(e.description().into()))
}

impl ClientMetadata {
    /// Reads metadata from `source` within `policy`.
    ///
    /// # Errors
    /// `invalid_redirect_uri` for a redirect URI that breaks a rule; `invalid_client_metadata`
    /// naming the member for anything else, including what the policy does not allow.
    pub fn parse(body: &Map<String, Value>, policy: &Policy, source: Source) -> Result<Self, Error> {
        let m = Members(body);
        let grant_types = match m.strings("grant_types", 8)? {
            // RFC 7591 §2: `authorization_code` when omitted.
            None => vec![GrantType::AuthorizationCode],
            Some(names) => {
                let mut grants = names
                    .iter()
                    .map(|g| g.parse::<GrantType>().map_err(|e| bad("grant_types", e)))
                    .collect::<Result<Vec<_>, _>>()?;
                grants.sort();
                grants.dedup();
                grants
            }
        };
        if grant_types.is_empty() {
            return Err(bad("grant_types", "name at least one grant"));
        }
        if let Some(g) = grant_types.iter().find(|g| !policy.grant_types.contains(g)) {
            return Err(bad(
                "grant_types",
                format!(
                    "{g} is not allowed for self-registered clients here (allowed: {})",
                    policy
                        .grant_types
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if grant_types == [GrantType::RefreshToken] {
            return Err(bad(
                "grant_types",
                "refresh_token alone can never be used: add the grant that first issues one (authorization_code)",
            ));
        }
        // RFC 7591 §2.1: response_types and grant_types must agree; only `code` exists here.
        let code = grant_types.contains(&GrantType::AuthorizationCode);
        let response_types = m
            .strings("response_types", 4)?
            .unwrap_or_else(|| if code { vec!["code"] } else { vec![] });
        if let Some(other) = response_types.iter().find(|r| **r != "code") {
            return Err(bad(
                "response_types",
                format!("{other} is not supported; this server answers authorization requests with a code only"),
            ));
        }
        if response_types.is_empty() == code {
            return Err(bad(
                "response_types",
                "response_types code goes with grant_types authorization_code, and only with it (RFC 7591 section 2.1)",
            ));
        }
        let redirect_uris = m
            .strings("redirect_uris", MAX_URIS)?
            .unwrap_or_default()
            .into_iter()
            .map(redirect_uri)
            .collect::<Result<Vec<_>, _>>()?;
        if code && redirect_uris.is_empty() {
            return Err(Error::InvalidRedirectUri(
                "redirect_uris: at least one is required for the authorization_code grant".into(),
            ));
        }
        let auth_method = Self::auth_method(&m, policy, source)?;
        if auth_method.kind() == crate::types::ClientKind::Public && grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(bad(
                "grant_types",
                "client_credentials needs a client that authenticates; token_endpoint_auth_method none cannot use it",
            ));
        }
        let (jwks, jwks_uri) = Self::keys(&m)?;
        if auth_method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() && jwks_uri.is_none() {
            return Err(bad(
                "token_endpoint_auth_method",
                "private_key_jwt needs the client's public keys in jwks or jwks_uri",
            ));
        }
        let scope = match m.string("scope")? {
            None => policy.scopes.clone(),
            Some(s) => ScopeSet::parse(s).map_err(|e| bad("scope", e.description()))?,
        };
        if let Some(s) = scope.difference(&policy.scopes).next() {
            return Err(bad(
                "scope",
                format!(
                    "{} is not allowed for self-registered clients here (allowed: {})",
                    s.as_str(),
                    policy.scopes.to_param()
                ),
            ));
        }
        let client_name = match m.string("client_name")? {
            Some(n) if n.chars().count() > MAX_NAME_LEN || n.chars().any(deceptive) || n.trim().is_empty() => {
                return Err(bad(
                    "client_name",
                    format!("must be 1 to {MAX_NAME_LEN} characters with no control or text-direction characters"),
                ));
            }
            n => n.map(str::to_owned),
        };
        let contacts = m.strings("contacts", MAX_CONTACTS)?.unwrap_or_default();
        if contacts
            .iter()
            .any(|c| c.len() > 254 || c.chars().any(char::is_control))
        {
            return Err(bad("contacts", "each must be an address of at most 254 characters"));
        }
        let about = About {
            logo_uri: m.https_uri("logo_uri")?,
            client_uri: m.https_uri("client_uri")?,
            policy_uri: m.https_uri("policy_uri")?,
            tos_uri: m.https_uri("tos_uri")?,
            contacts: contacts.into_iter().map(str::to_owned).collect(),
        };
        let post_logout_redirect_uris = m
            .strings("post_logout_redirect_uris", MAX_URIS)?
            .unwrap_or_default()
            .into_iter()
            .map(|u| redirect_uri(u).map_err(|e| bad("post_logout_redirect_uris", e.description())))
            .collect::<Result<Vec<_>, _>>()?;
        let backchannel_logout_uri = m
            .string("backchannel_logout_uri")?
            .map(|u| {
                // Back-Channel Logout 1.0 §2.2 allows plain http for confidential clients the
                // operator knows; a client that describes itself gets https only.
                if !u.starts_with("https://") {
                    return Err(bad("backchannel_logout_uri", "must be https"));
                }
                BackchannelUri::parse(u).map_err(|e| bad("backchannel_logout_uri", e.description()))
            })
            .transpose()?;
        let request_object_signing_alg = m.client_alg("request_object_signing_alg")?;
        if request_object_signing_alg.is_some() && jwks.is_none() && jwks_uri.is_none() {
            return Err(bad(
                "request_object_signing_alg",
                "signed request objects need the client's public keys in jwks or jwks_uri",
            ));
        }
        Ok(Self {
            redirect_uris,
            grant_types,
            auth_method,
            auth_signing_alg: m.client_alg("token_endpoint_auth_signing_alg")?,
            jwks,
            jwks_uri,
            client_name,
            about,
            scope,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            backchannel_logout_session_required: m.boolean("backchannel_logout_session_required")?.unwrap_or(false),
            id_token_alg: m
                .signing_alg("id_token_signed_response_alg")?
                .unwrap_or(SigningAlg::Rs256),
            userinfo_alg: m.signing_alg("userinfo_signed_response_alg")?,
            request_object_signing_alg,
            default_max_age: m.seconds("default_max_age")?,
            require_auth_time: m.boolean("require_auth_time")?.unwrap_or(false),
            require_pushed_authorization_requests: m.boolean("require_pushed_authorization_requests")?.unwrap_or(false),
            dpop_bound_access_tokens: m.boolean("dpop_bound_access_tokens")?.unwrap_or(false),
        })
    }

    fn auth_method(m: &Members<'_>, policy: &Policy, source: Source) -> Result<TokenEndpointAuthMethod, Error> {
        const MEMBER: &str = "token_endpoint_auth_method";
        let method = match (m.string(MEMBER)?, source) {
            (Some(name), _) => name.parse::<TokenEndpointAuthMethod>().map_err(|e| bad(MEMBER, e))?,
            // RFC 7591 §2: client_secret_basic when omitted.
            (None, Source::Registration) => TokenEndpointAuthMethod::ClientSecretBasic,
            (None, Source::Document) => TokenEndpointAuthMethod::None,
        };
        if source == Source::Document && method.has_secret() {
            return Err(bad(
                MEMBER,
                format!(
                    "{method} needs a shared secret, which a metadata document cannot have; use none or private_key_jwt"
                ),
            ));
        }
        if method == TokenEndpointAuthMethod::None && !policy.public_clients {
            return Err(bad(
                MEMBER,
                "public clients (none) may not register here; use client_secret_basic, client_secret_post or private_key_jwt",
            ));
        }
        Ok(method)
    }

    /// `jwks` or `jwks_uri`, never both (RFC 7591 §2).
    fn keys(m: &Members<'_>) -> Result<(Option<String>, Option<JwksUri>), Error> {
        let jwks = match m.get("jwks") {
            None => None,
            Some(v @ Value::Object(_)) => {
                let text = v.to_string();
                ClientKeys::parse(&text).map_err(|e| bad("jwks", e))?;
                Some(text)
            }
            Some(_) => return Err(bad("jwks", "must be a JWK Set object ({\"keys\": [...]})")),
        };
        let jwks_uri = m
            .string("jwks_uri")?
            .map(|u| JwksUri::parse(u).map_err(|e| bad("jwks_uri", e.description())))
            .transpose()?;
        if jwks.is_some() && jwks_uri.is_some() {
            return Err(bad("jwks", "give jwks or jwks_uri, not both (RFC 7591 section 2)"));
        }
        Ok((jwks, jwks_uri))
    }

    /// The metadata as RFC 7591 members. Absent optional members are left out.
    #[must_use]
    pub fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let code = self.grant_types.contains(&GrantType::AuthorizationCode);
        out.insert("redirect_uris".into(), json!(self.redirect_uris));
        out.insert("grant_types".into(), json!(self.grant_types));
        out.insert("response_types".into(), json!(if code { vec!["code"] } else { vec![] }));
        out.insert("token_endpoint_auth_method".into(), json!(self.auth_method));
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(v) = value {
                out.insert(name.into(), v);
            }
        };
        put(
            "token_endpoint_auth_signing_alg",
            self.auth_signing_alg.as_ref().map(|a| json!(a)),
        );
        put(
            "jwks",
            self.jwks.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok()),
        );
        put("jwks_uri", self.jwks_uri.as_ref().map(|u| json!(u)));
        put("client_name", self.client_name.as_ref().map(|n| json!(n)));
        if let Value::Object(about) = json!(self.about) {
            out.extend(about);
        }
        out.insert("scope".into(), json!(self.scope.to_param()));
        out.insert(
            "post_logout_redirect_uris".into(),
            json!(self.post_logout_redirect_uris),
        );
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(v) = value {
                out.insert(name.into(), v);
            }
        };
        put(
            "backchannel_logout_uri",
            self.backchannel_logout_uri.as_ref().map(|u| json!(u)),
        );
        put(
            "request_object_signing_alg",
            self.request_object_signing_alg.as_ref().map(|a| json!(a)),
        );
        put("userinfo_signed_response_alg", self.userinfo_alg.map(|a| json!(a)));
        put("default_max_age", self.default_max_age.map(|s| json!(s)));
        out.insert(
            "backchannel_logout_session_required".into(),
            json!(self.backchannel_logout_session_required),
        );
        out.insert("id_token_signed_response_alg".into(), json!(self.id_token_alg));
        out.insert("require_auth_time".into(), json!(self.require_auth_time));
        out.insert(
            "require_pushed_authorization_requests".into(),
            json!(self.require_pushed_authorization_requests),
        );
        out.insert("dpop_bound_access_tokens".into(), json!(self.dpop_bound_access_tokens));
        out
    }
}
