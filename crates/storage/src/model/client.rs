//! Clients: the registered record, where it came from (the operator, registration or a metadata
//! document), its RFC 7591 metadata, and initial access tokens.

use gatehouse_protocol::logout::BackchannelUri;
use gatehouse_protocol::registration::{About, ClientMetadata};
use gatehouse_protocol::types::{
    AccessTokenFormat, ClientId, GrantType, JwksUri, RedirectUri, ScopeSet, SigningAlg, TokenEndpointAuthMethod,
    TokenHash, UnixTime,
};
use std::fmt;
use std::str::FromStr;

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The `client_id`.
    pub id: ClientId,
    /// A human-readable name shown on the consent page.
    pub name: String,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<TokenHash>,
    /// How it authenticates at the token endpoint.
    pub auth_method: TokenEndpointAuthMethod,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<RedirectUri>,
    /// Grants it may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes it may ask for.
    pub scopes: ScopeSet,
    /// The ID token signing algorithm.
    pub id_token_alg: SigningAlg,
    /// Opaque or RFC 9068 JWT access tokens.
    pub access_token_format: AccessTokenFormat,
    /// Resources (RFC 8707) this client may ask tokens for.
    pub resources: Vec<String>,
    /// May introspect tokens issued to other clients whose audience names it (RFC 7662 §4): a
    /// resource server. Its identities are its `client_id` and its `resources`.
    pub introspect: bool,
    /// Where users may be sent after signing out (RP-Initiated Logout 1.0 §3.1), matched exactly.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Where logout tokens are posted when a session it took part in ends (Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<BackchannelUri>,
    /// The client wants `sid` in logout tokens (every logout token carries it anyway).
    pub backchannel_logout_session_required: bool,
    /// Its public keys (a JWKS document), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// The one algorithm its client assertions may use (`token_endpoint_auth_signing_alg`).
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// Its client assertions must name the issuer identifier as `aud`, nothing else.
    pub strict_assertion_audience: bool,
    /// Where its public keys are fetched from, instead of (or besides) `jwks`.
    pub jwks_uri: Option<JwksUri>,
    /// The one algorithm its request objects may use (`request_object_signing_alg`).
    pub request_object_signing_alg: Option<String>,
    /// It must push its authorization requests (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// Its authorization requests must come as signed request objects (RFC 9101 §10.5).
    pub require_signed_request_object: bool,
    /// Its token requests must carry a DPoP proof (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub dpop_bound_access_tokens: bool,
    /// Who made it.
    pub origin: ClientOrigin,
    /// SHA-256 of its registration access token (RFC 7592), for self-registered clients.
    pub registration_token_hash: Option<TokenHash>,
    /// The registration policy it registered under.
    pub registration_policy: Option<String>,
    /// What it says about itself (logo, home page, policies, contacts): shown, never trusted.
    pub about: About,
    /// Userinfo answers it with a JWT signed with this algorithm (OIDC Core §5.3.2).
    pub userinfo_alg: Option<SigningAlg>,
    /// `max_age` for its requests that name none (OIDC Registration §2).
    pub default_max_age: Option<u64>,
    /// Its ID tokens always carry `auth_time` (they do anyway; kept to echo its registration).
    pub require_auth_time: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// When its secret was last set (creation or rotation); `None` when unknown (older rows).
    pub secret_set_at: Option<UnixTime>,
    /// Last use of a self-registered client, to the hour; not written by [`crate::Clients::update_client`].
    pub last_used_at: Option<UnixTime>,
}

/// Who made a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientOrigin {
    /// The operator, with `gatehouse client create` or an import.
    Operator,
    /// The client itself, at `/oauth/register` (RFC 7591).
    Registration,
    /// Its Client ID Metadata Document: its `client_id` is the document's https URL.
    MetadataDocument,
}

impl ClientOrigin {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Registration => "registration",
            Self::MetadataDocument => "metadata_document",
        }
    }

    /// Whether the client described itself (registration or metadata document): its name is
    /// self-asserted (pages say so), its URLs reach only what
    /// `GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW` opens, and it never holds operator-only flags.
    #[must_use]
    pub fn is_dynamic(self) -> bool {
        self != Self::Operator
    }
}

impl FromStr for ClientOrigin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "operator" => Ok(Self::Operator),
            "registration" => Ok(Self::Registration),
            "metadata_document" => Ok(Self::MetadataDocument),
            other => Err(format!("unknown client origin {other}")),
        }
    }
}

impl fmt::Display for ClientOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An initial access token (RFC 7591 §3): lets its bearer register one client under `policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// The registration policy its clients get.
    pub policy: String,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// Registrations left; `None` for no limit.
    pub uses_left: Option<u64>,
    /// Creation time.
    pub created_at: UnixTime,
}

impl ClientRecord {
    /// The client's metadata, as registration responses and `client show --json` print it.
    #[must_use]
    pub fn metadata(&self) -> ClientMetadata {
        ClientMetadata {
            redirect_uris: self.redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            auth_method: self.auth_method,
            auth_signing_alg: self.token_endpoint_auth_signing_alg.clone(),
            jwks: self.jwks.clone(),
            jwks_uri: self.jwks_uri.clone(),
            client_name: Some(self.name.clone()).filter(|n| !n.is_empty()),
            about: self.about.clone(),
            scope: self.scopes.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            id_token_alg: self.id_token_alg,
            userinfo_alg: self.userinfo_alg,
            request_object_signing_alg: self.request_object_signing_alg.clone(),
            default_max_age: self.default_max_age,
            require_auth_time: self.require_auth_time,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
        }
    }

    /// A client the client described itself: what the metadata says, and none of the powers only
    /// the operator grants (introspection, resources, strict flags stay off).
    #[must_use]
    pub fn described(id: ClientId, m: ClientMetadata, origin: ClientOrigin, now: UnixTime) -> Self {
        let mut c = Self {
            id,
            name: String::new(),
            secret_hash: None,
            auth_method: m.auth_method,
            redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            scopes: m.scope.clone(),
            id_token_alg: m.id_token_alg,
            access_token_format: AccessTokenFormat::Opaque,
            resources: Vec::new(),
            introspect: false,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            jwks: None,
            token_endpoint_auth_signing_alg: None,
            strict_assertion_audience: false,
            jwks_uri: None,
            request_object_signing_alg: None,
            require_pushed_authorization_requests: false,
            require_signed_request_object: false,
            dpop_bound_access_tokens: false,
            origin,
            registration_token_hash: None,
            registration_policy: None,
            about: About::default(),
            userinfo_alg: None,
            default_max_age: None,
            require_auth_time: false,
            created_at: now,
            secret_set_at: None,
            last_used_at: None,
        };
        c.apply(m);
        c
    }

    /// Replaces every member the metadata model covers (RFC 7592 §2.2: a full replacement).
    pub fn apply(&mut self, m: ClientMetadata) {
        self.name = m.client_name.unwrap_or_default();
        self.auth_method = m.auth_method;
        self.redirect_uris = m.redirect_uris;
        self.grant_types = m.grant_types;
        self.scopes = m.scope;
        self.id_token_alg = m.id_token_alg;
        self.post_logout_redirect_uris = m.post_logout_redirect_uris;
        self.backchannel_logout_uri = m.backchannel_logout_uri;
        self.backchannel_logout_session_required = m.backchannel_logout_session_required;
        self.jwks = m.jwks;
        self.token_endpoint_auth_signing_alg = m.auth_signing_alg;
        self.jwks_uri = m.jwks_uri;
        self.request_object_signing_alg = m.request_object_signing_alg;
        self.require_pushed_authorization_requests = m.require_pushed_authorization_requests;
        self.dpop_bound_access_tokens = m.dpop_bound_access_tokens;
        self.about = m.about;
        self.userinfo_alg = m.userinfo_alg;
        self.default_max_age = m.default_max_age;
        self.require_auth_time = m.require_auth_time;
        if !self.auth_method.has_secret() {
            self.secret_hash = None;
        }
    }

    /// What a user sees of the client when deciding to consent: a change asks them again.
    #[must_use]
    pub fn shown_identity(&self) -> (&str, &[RedirectUri], Option<&str>) {
        (&self.name, &self.redirect_uris, self.about.logo_uri.as_deref())
    }
}
