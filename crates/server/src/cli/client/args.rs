//! The arguments of `gatehouse client ...`.

use super::super::parse::{
    parse_assertion_alg, parse_auth_method, parse_backchannel_uri, parse_jwks_uri, parse_optional_assertion_alg,
    parse_optional_backchannel_uri, parse_optional_jwks_uri, parse_optional_redirect_uri, parse_optional_seconds,
    parse_optional_signing_alg, parse_redirect_uri, parse_resource, parse_scope,
};
use clap::{Args, Subcommand};
use gatehouse_protocol::types::{
    AccessTokenFormat, BackchannelUri, GrantType, JwksUri, RedirectUri, ScopeSet, SigningAlg, TokenEndpointAuthMethod,
};

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client. Prints its client_id and, for a confidential client, its secret (once).
    Create(Box<CreateArgs>),
    /// List clients.
    List {
        /// Only clients that registered themselves or came from a metadata document, with their
        /// last use.
        #[arg(long)]
        dynamic: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client_id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's registration; only the given options change.
    Update(Box<UpdateArgs>),
    /// Replace a confidential client's secret. Prints the new secret (once).
    RotateSecret {
        /// The client_id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client with its codes, tokens and consents.
    Delete {
        /// The client_id.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Args)]
pub(crate) struct CreateArgs {
    /// Name shown on the consent page.
    #[arg(long)]
    pub(crate) name: String,
    /// A redirect URI (repeat for several): https, http on a loopback host, or a private-use scheme.
    #[arg(long = "redirect-uri", value_name = "URI", value_parser = parse_redirect_uri)]
    pub(crate) redirect_uris: Vec<RedirectUri>,
    /// A public client (browser or native app): no secret, token_endpoint_auth_method none.
    #[arg(long)]
    pub(crate) public: bool,
    /// Allowed grant type (repeat for several) [default: authorization_code, plus refresh_token].
    #[arg(long = "grant-type", value_name = "TYPE")]
    pub(crate) grant_types: Vec<GrantType>,
    /// Allowed scopes, space-separated [default: "openid profile email offline_access"].
    #[arg(long, value_parser = parse_scope)]
    pub(crate) scope: Option<ScopeSet>,
    /// client_secret_basic, client_secret_post, private_key_jwt (with --jwks-file or --jwks-uri) or none [default: client_secret_basic, none with --public].
    #[arg(long = "token-endpoint-auth-method", value_name = "METHOD", value_parser = parse_auth_method)]
    pub(crate) auth_method: Option<TokenEndpointAuthMethod>,
    /// ID token signing algorithm: RS256, ES256 or EdDSA.
    #[arg(long = "id-token-alg", value_name = "ALG", default_value = "RS256")]
    pub(crate) id_token_alg: SigningAlg,
    /// Access tokens: opaque (introspectable) or jwt (RFC 9068, verifiable against the JWKS).
    #[arg(long = "access-token-format", value_name = "FORMAT", default_value = "opaque")]
    pub(crate) access_token_format: AccessTokenFormat,
    /// A resource (RFC 8707, absolute URI) this client may ask tokens for (repeat for several).
    #[arg(long = "resource", value_name = "URI", value_parser = parse_resource)]
    pub(crate) resources: Vec<String>,
    /// A resource server: may introspect other clients' access tokens whose audience names this
    /// client's client_id or one of its --resource URIs (RFC 7662 section 4).
    #[arg(long)]
    pub(crate) introspect: bool,
    /// Where users may be sent after signing out (repeat for several); matched exactly.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI", value_parser = parse_redirect_uri)]
    pub(crate) post_logout_redirect_uris: Vec<RedirectUri>,
    /// Where logout tokens are posted when a session this client took part in ends
    /// (OpenID Connect Back-Channel Logout); internal hosts need GATEHOUSE_OUTBOUND_ALLOW.
    #[arg(long = "backchannel-logout-uri", value_name = "URI", value_parser = parse_backchannel_uri)]
    pub(crate) backchannel_logout_uri: Option<BackchannelUri>,
    /// The client requires `sid` in logout tokens (Gatehouse always sends it).
    #[arg(long)]
    pub(crate) backchannel_logout_session_required: bool,
    /// Its public keys, a JWKS file (for --token-endpoint-auth-method private_key_jwt).
    #[arg(long = "jwks-file", value_name = "FILE")]
    pub(crate) jwks_file: Option<std::path::PathBuf>,
    /// The one algorithm its client assertions may use: RS256, PS256, ES256 or EdDSA.
    #[arg(long = "token-endpoint-auth-signing-alg", value_name = "ALG", value_parser = parse_assertion_alg)]
    pub(crate) token_endpoint_auth_signing_alg: Option<String>,
    /// Its client assertions must name the issuer identifier as aud (no endpoint URL, no array).
    #[arg(long)]
    pub(crate) strict_assertion_audience: bool,
    /// Where its public keys are fetched from (https; instead of --jwks-file). Internal hosts need
    /// GATEHOUSE_OUTBOUND_ALLOW.
    #[arg(long = "jwks-uri", value_name = "URI", value_parser = parse_jwks_uri, conflicts_with = "jwks_file")]
    pub(crate) jwks_uri: Option<JwksUri>,
    /// The one algorithm its request objects may use: RS256, PS256, ES256 or EdDSA.
    #[arg(long = "request-object-signing-alg", value_name = "ALG", value_parser = parse_assertion_alg)]
    pub(crate) request_object_signing_alg: Option<String>,
    /// It must push its authorization requests to /oauth/par (RFC 9126).
    #[arg(long)]
    pub(crate) require_pushed_authorization_requests: bool,
    /// Its authorization requests must come as signed request objects (RFC 9101).
    #[arg(long)]
    pub(crate) require_signed_request_object: bool,
    /// Its token requests must carry a DPoP proof, so all its access tokens are bound to a key
    /// (RFC 9449).
    #[arg(long)]
    pub(crate) dpop_bound_access_tokens: bool,
    /// Userinfo answers this client with a JWT signed with this algorithm (RS256, ES256 or EdDSA)
    /// instead of JSON.
    #[arg(long = "userinfo-signed-response-alg", value_name = "ALG")]
    pub(crate) userinfo_signed_response_alg: Option<SigningAlg>,
    /// The max_age (seconds) of its authorization requests that name none: older sign-ins must
    /// sign in again.
    #[arg(long = "default-max-age", value_name = "SECONDS")]
    pub(crate) default_max_age: Option<u64>,
    /// Use this client_id instead of a generated one.
    #[arg(long = "client-id", value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct UpdateArgs {
    /// The client_id.
    #[arg(allow_hyphen_values = true)]
    pub(crate) id: String,
    /// New name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Replace the redirect URIs (repeat for several).
    #[arg(long = "redirect-uri", value_name = "URI", value_parser = parse_redirect_uri)]
    pub(crate) redirect_uris: Vec<RedirectUri>,
    /// Replace the grant types (repeat for several).
    #[arg(long = "grant-type", value_name = "TYPE")]
    pub(crate) grant_types: Vec<GrantType>,
    /// Replace the allowed scopes.
    #[arg(long, value_parser = parse_scope)]
    pub(crate) scope: Option<ScopeSet>,
    /// New ID token signing algorithm.
    #[arg(long = "id-token-alg", value_name = "ALG")]
    pub(crate) id_token_alg: Option<SigningAlg>,
    /// New access token format: opaque or jwt.
    #[arg(long = "access-token-format", value_name = "FORMAT")]
    pub(crate) access_token_format: Option<AccessTokenFormat>,
    /// Replace the allowed resources (repeat for several).
    #[arg(long = "resource", value_name = "URI", value_parser = parse_resource)]
    pub(crate) resources: Vec<String>,
    /// Allow (true) or forbid (false) introspecting other clients' tokens whose audience names
    /// this client (a resource server).
    #[arg(long, value_name = "true|false")]
    pub(crate) introspect: Option<bool>,
    /// Replace the post-logout redirect URIs (repeat for several; "" removes them all).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI", value_parser = parse_optional_redirect_uri)]
    pub(crate) post_logout_redirect_uris: Vec<Option<RedirectUri>>,
    /// Set the back-channel logout URI ("" removes it).
    #[arg(long = "backchannel-logout-uri", value_name = "URI", value_parser = parse_optional_backchannel_uri)]
    pub(crate) backchannel_logout_uri: Option<Option<BackchannelUri>>,
    /// Whether the client requires `sid` in logout tokens.
    #[arg(long, value_name = "true|false")]
    pub(crate) backchannel_logout_session_required: Option<bool>,
    /// Replace its public keys with this JWKS file.
    #[arg(long = "jwks-file", value_name = "FILE")]
    pub(crate) jwks_file: Option<std::path::PathBuf>,
    /// The one algorithm its client assertions may use.
    #[arg(long = "token-endpoint-auth-signing-alg", value_name = "ALG", value_parser = parse_assertion_alg)]
    pub(crate) token_endpoint_auth_signing_alg: Option<String>,
    /// Whether its client assertions must name the issuer identifier as aud.
    #[arg(long, value_name = "true|false")]
    pub(crate) strict_assertion_audience: Option<bool>,
    /// Fetch its public keys from this URI instead ("" removes it); replaces --jwks-file keys.
    #[arg(long = "jwks-uri", value_name = "URI", value_parser = parse_optional_jwks_uri, conflicts_with = "jwks_file")]
    pub(crate) jwks_uri: Option<Option<JwksUri>>,
    /// The one algorithm its request objects may use ("" accepts any of RS256, PS256, ES256, EdDSA).
    #[arg(long = "request-object-signing-alg", value_name = "ALG", value_parser = parse_optional_assertion_alg)]
    pub(crate) request_object_signing_alg: Option<Option<String>>,
    /// Whether it must push its authorization requests to /oauth/par.
    #[arg(long, value_name = "true|false")]
    pub(crate) require_pushed_authorization_requests: Option<bool>,
    /// Whether its authorization requests must come as signed request objects.
    #[arg(long, value_name = "true|false")]
    pub(crate) require_signed_request_object: Option<bool>,
    /// Whether its token requests must carry a DPoP proof.
    #[arg(long, value_name = "true|false")]
    pub(crate) dpop_bound_access_tokens: Option<bool>,
    /// Sign its userinfo answers with this algorithm (RS256, ES256 or EdDSA), or "" for JSON.
    #[arg(long = "userinfo-signed-response-alg", value_name = "ALG", value_parser = parse_optional_signing_alg)]
    pub(crate) userinfo_signed_response_alg: Option<Option<SigningAlg>>,
    /// Its default max_age in seconds, or "" for none.
    #[arg(long = "default-max-age", value_name = "SECONDS", value_parser = parse_optional_seconds)]
    pub(crate) default_max_age: Option<Option<u64>>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
