//! Provider metadata (OIDC Discovery §3, RFC 8414 §2). Generated from configuration and the
//! features that exist; only what is implemented is advertised.

use crate::claims::USER_CLAIMS;
use crate::types::{GrantType, SigningAlg, TokenEndpointAuthMethod};
use serde::Serialize;

/// The metadata document, served at both well-known paths.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    end_session_endpoint: String,
    device_authorization_endpoint: String,
    pushed_authorization_request_endpoint: String,
    require_pushed_authorization_requests: bool,
    /// RFC 7591 §3: only when registration is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    /// draft-ietf-oauth-client-id-metadata-document §5.
    client_id_metadata_document_supported: bool,
    jwks_uri: String,
    scopes_supported: Vec<String>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    userinfo_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: [&'static str; 4],
    revocation_endpoint_auth_methods_supported: [&'static str; 4],
    introspection_endpoint_auth_methods_supported: [&'static str; 3],
    claims_supported: Vec<&'static str>,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    request_object_signing_alg_values_supported: [&'static str; 4],
    dpop_signing_alg_values_supported: Vec<&'static str>,
    code_challenge_methods_supported: [&'static str; 1],
    authorization_response_iss_parameter_supported: bool,
    prompt_values_supported: [&'static str; 4],
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
}

/// The optional features that are on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Features {
    /// Every client must push its requests (RFC 9126 §5).
    pub require_par: bool,
    /// RS256 DPoP proofs are accepted.
    pub dpop_rs256: bool,
    /// `/oauth/register` is served (RFC 7591).
    pub registration: bool,
    /// https `client_id`s name metadata documents.
    pub metadata_documents: bool,
}

/// The protocol claims an ID token may carry, advertised with the user claims.
const ID_TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "sid",
];

impl ProviderMetadata {
    /// Builds the document for `issuer` (no trailing slash), the registered scope names and the
    /// optional features that are on.
    #[must_use]
    pub fn new(issuer: &str, scopes: Vec<String>, on: Features) -> Self {
        let Features {
            require_par,
            dpop_rs256,
            registration,
            metadata_documents,
        } = on;
        let url = |path: &str| format!("{issuer}{path}");
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: url("/oauth/authorize"),
            token_endpoint: url("/oauth/token"),
            userinfo_endpoint: url("/oauth/userinfo"),
            revocation_endpoint: url("/oauth/revoke"),
            introspection_endpoint: url("/oauth/introspect"),
            // RP-Initiated Logout 1.0 §2.1; Back-Channel Logout 1.0 §2.1 (every logout token
            // carries `sid`).
            end_session_endpoint: url("/oauth/logout"),
            // RFC 8628 §4.
            device_authorization_endpoint: url("/oauth/device_authorization"),
            // RFC 9126 §5.
            pushed_authorization_request_endpoint: url("/oauth/par"),
            require_pushed_authorization_requests: require_par,
            registration_endpoint: registration.then(|| url("/oauth/register")),
            client_id_metadata_document_supported: metadata_documents,
            jwks_uri: url("/.well-known/jwks.json"),
            scopes_supported: scopes,
            response_types_supported: ["code"],
            response_modes_supported: ["query"],
            grant_types_supported: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: SigningAlg::ALL.iter().map(|a| a.as_str()).collect(),
            // OIDC Core §5.3.2: for clients that register userinfo_signed_response_alg.
            userinfo_signing_alg_values_supported: SigningAlg::ALL.iter().map(|a| a.as_str()).collect(),
            token_endpoint_auth_methods_supported: TokenEndpointAuthMethod::ALL.iter().map(|m| m.as_str()).collect(),
            // private_key_jwt assertions (crate::client_jwt); never none, never HMAC.
            token_endpoint_auth_signing_alg_values_supported: ["RS256", "PS256", "ES256", "EdDSA"],
            // Public clients may revoke their own tokens (RFC 7009 §5); introspection needs a secret.
            revocation_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            introspection_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            claims_supported: USER_CLAIMS.iter().chain(ID_TOKEN_CLAIMS).copied().collect(),
            claims_parameter_supported: true,
            // Signed request objects by value (RFC 9101); never `none`.
            request_parameter_supported: true,
            // Only this server's own pushed-request URNs are accepted as request_uri; request
            // objects are never fetched from clients' URLs, which is what this flag announces
            // (OIDC Discovery §3). PAR clients use request_uri regardless (RFC 9126 §4).
            request_uri_parameter_supported: false,
            request_object_signing_alg_values_supported: ["RS256", "PS256", "ES256", "EdDSA"],
            // RFC 9449 §5.1.
            dpop_signing_alg_values_supported: crate::dpop::ALGORITHMS
                .iter()
                .copied()
                .chain(dpop_rs256.then_some("RS256"))
                .collect(),
            code_challenge_methods_supported: ["S256"],
            authorization_response_iss_parameter_supported: true,
            prompt_values_supported: ["none", "login", "consent", "select_account"],
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_derive_from_the_issuer_and_pkce_is_s256_only() {
        let m = serde_json::to_value(ProviderMetadata::new(
            "https://id.example.com",
            vec!["openid".into()],
            Features::default(),
        ))
        .unwrap();
        assert!(m.get("registration_endpoint").is_none());
        assert_eq!(m["client_id_metadata_document_supported"], false);
        let on = Features {
            registration: true,
            metadata_documents: true,
            ..Features::default()
        };
        let m = serde_json::to_value(ProviderMetadata::new("https://id.example.com", vec![], on)).unwrap();
        assert_eq!(m["registration_endpoint"], "https://id.example.com/oauth/register");
        assert_eq!(m["client_id_metadata_document_supported"], true);
        assert_eq!(
            m["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256", "EdDSA", "PS256"])
        );
        assert_eq!(m["token_endpoint"], "https://id.example.com/oauth/token");
        assert_eq!(m["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            m["device_authorization_endpoint"],
            "https://id.example.com/oauth/device_authorization"
        );
        assert!(
            m["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&"urn:ietf:params:oauth:grant-type:device_code".into())
        );
        assert!(
            m["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .contains(&"RS256".into())
        );
    }
}
