//! The lines of an export: one JSON object each, tagged by `type`.

use gatehouse_protocol::claims::ClaimsRequest;
use gatehouse_protocol::registration::About;
use gatehouse_protocol::types::{
    AccessTokenFormat, BackchannelUri, ClientId, GrantType, JwksUri, RedirectUri, ScopeSet, SigningAlg,
    TokenEndpointAuthMethod, UnixTime,
};
use serde::{Deserialize, Serialize};

/// One line of an export. Order matters on import: rows come after what they reference.
// One line is read, applied and dropped at a time: the size of the client variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Line {
    Header {
        format: String,
        version: u32,
    },
    Scope {
        name: String,
        description: String,
    },
    Client {
        client_id: ClientId,
        name: String,
        secret_hash: Option<String>,
        token_endpoint_auth_method: TokenEndpointAuthMethod,
        redirect_uris: Vec<RedirectUri>,
        grant_types: Vec<GrantType>,
        scope: ScopeSet,
        id_token_alg: SigningAlg,
        #[serde(default = "opaque")]
        access_token_format: AccessTokenFormat,
        #[serde(default)]
        resources: Vec<String>,
        #[serde(default)]
        introspect: bool,
        #[serde(default)]
        post_logout_redirect_uris: Vec<RedirectUri>,
        #[serde(default)]
        backchannel_logout_uri: Option<BackchannelUri>,
        #[serde(default)]
        backchannel_logout_session_required: bool,
        #[serde(default)]
        jwks: Option<String>,
        #[serde(default)]
        token_endpoint_auth_signing_alg: Option<String>,
        #[serde(default)]
        strict_assertion_audience: bool,
        #[serde(default)]
        jwks_uri: Option<JwksUri>,
        #[serde(default)]
        request_object_signing_alg: Option<String>,
        #[serde(default)]
        require_pushed_authorization_requests: bool,
        #[serde(default)]
        require_signed_request_object: bool,
        #[serde(default)]
        dpop_bound_access_tokens: bool,
        #[serde(default = "operator")]
        origin: String,
        #[serde(default)]
        registration_token_hash: Option<String>,
        #[serde(default)]
        registration_policy: Option<String>,
        #[serde(default)]
        about: About,
        #[serde(default)]
        userinfo_alg: Option<SigningAlg>,
        #[serde(default)]
        default_max_age: Option<u64>,
        #[serde(default)]
        require_auth_time: bool,
        created_at: UnixTime,
        #[serde(default)]
        secret_set_at: Option<UnixTime>,
        #[serde(default)]
        last_used_at: Option<UnixTime>,
    },
    User {
        sub: String,
        username: String,
        email: Option<String>,
        email_verified: bool,
        name: Option<String>,
        password_hash: String,
        locked: bool,
        created_at: UnixTime,
        updated_at: UnixTime,
    },
    Consent {
        user_id: String,
        client_id: ClientId,
        scope: ScopeSet,
        granted_at: UnixTime,
    },
    Key {
        kid: String,
        alg: SigningAlg,
        private_der: String,
        created_at: UnixTime,
        #[serde(default)]
        activates_at: UnixTime,
        #[serde(default)]
        retires_at: Option<UnixTime>,
    },
    RefreshToken {
        hash: String,
        family_id: String,
        client_id: ClientId,
        subject: String,
        scope: ScopeSet,
        claims: ClaimsRequest,
        auth_time: UnixTime,
        session_id: Option<String>,
        issued_at: UnixTime,
        expires_at: UnixTime,
        family_expires_at: UnixTime,
        #[serde(default)]
        audience: Vec<String>,
        #[serde(default)]
        dpop_jkt: Option<String>,
    },
}

fn opaque() -> AccessTokenFormat {
    AccessTokenFormat::Opaque
}

fn operator() -> String {
    "operator".into()
}
