//! The one error enum of the protocol, with its RFC error codes and HTTP statuses.

use std::borrow::Cow;

/// Text for an `error_description`. Built only from typed values; RFC 6749 §5.2 limits it to
/// %x20-21 / %x23-5B / %x5D-7E, which [`Error::description`] enforces.
pub type Description = Cow<'static, str>;

/// Every error a protocol endpoint can answer with. Variants are RFC codes in CamelCase.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `invalid_request` (RFC 6749 §4.1.2.1, §5.2).
    #[error("invalid_request: {0}")]
    InvalidRequest(Description),
    /// `invalid_client` (RFC 6749 §5.2). Always answered with 401 and `WWW-Authenticate`.
    #[error("invalid_client: {0}")]
    InvalidClient(Description),
    /// `invalid_grant` (RFC 6749 §5.2).
    #[error("invalid_grant: {0}")]
    InvalidGrant(Description),
    /// `unauthorized_client` (RFC 6749 §4.1.2.1, §5.2).
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Description),
    /// `unsupported_grant_type` (RFC 6749 §5.2).
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Description),
    /// `unsupported_response_type` (RFC 6749 §4.1.2.1).
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(Description),
    /// `invalid_scope` (RFC 6749 §4.1.2.1, §5.2).
    #[error("invalid_scope: {0}")]
    InvalidScope(Description),
    /// `invalid_target` (RFC 8707 §2).
    #[error("invalid_target: {0}")]
    InvalidTarget(Description),
    /// `access_denied` (RFC 6749 §4.1.2.1): the user declined.
    #[error("access_denied: {0}")]
    AccessDenied(Description),
    /// `login_required` (OIDC Core §3.1.2.6).
    #[error("login_required: {0}")]
    LoginRequired(Description),
    /// `consent_required` (OIDC Core §3.1.2.6).
    #[error("consent_required: {0}")]
    ConsentRequired(Description),
    /// `invalid_request_object` (RFC 9101 §6.2, OIDC Core §3.1.2.6): the request object does not
    /// verify or breaks a rule.
    #[error("invalid_request_object: {0}")]
    InvalidRequestObject(Description),
    /// `invalid_request_uri` (RFC 9101 §6.2, RFC 9126 §4): the `request_uri` is unknown, expired or
    /// another client's.
    #[error("invalid_request_uri: {0}")]
    InvalidRequestUri(Description),
    /// `request_uri_not_supported` (OIDC Core §3.1.2.6).
    #[error("request_uri_not_supported: {0}")]
    RequestUriNotSupported(Description),
    /// `invalid_redirect_uri` (RFC 7591 §3.2.2): a registered redirect URI breaks a rule.
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(Description),
    /// `invalid_client_metadata` (RFC 7591 §3.2.2): a metadata member is invalid or contradicts
    /// another, or the registration policy refuses it.
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(Description),
    /// `authorization_pending` (RFC 8628 §3.5): the user has not decided yet.
    #[error("authorization_pending: {0}")]
    AuthorizationPending(Description),
    /// `slow_down` (RFC 8628 §3.5): polled faster than the interval, which grows by 5 seconds.
    #[error("slow_down: {0}")]
    SlowDown(Description),
    /// `expired_token` (RFC 8628 §3.5): the device code expired.
    #[error("expired_token: {0}")]
    ExpiredToken(Description),
    /// `invalid_dpop_proof` (RFC 9449 §5, §7.1): 400 at the token endpoint, 401 at a resource.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(Description),
    /// `use_dpop_nonce` (RFC 9449 §8): the proof must carry this server nonce, sent back in the
    /// `DPoP-Nonce` header.
    #[error("use_dpop_nonce")]
    UseDpopNonce {
        /// The nonce to put in the next proof.
        nonce: String,
    },
    /// `invalid_token` (RFC 6750 §3.1), answered with 401 and `WWW-Authenticate: Bearer`.
    #[error("invalid_token: {0}")]
    InvalidToken(Description),
    /// `insufficient_scope` (RFC 6750 §3.1), 403.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(Description),
    /// `temporarily_unavailable`: a dependency (the store) is down; 503.
    #[error("temporarily_unavailable: {0}")]
    TemporarilyUnavailable(Description),
    /// Too many attempts: 429 with `Retry-After`; the code is `temporarily_unavailable`, the nearest
    /// RFC 6749 code, so clients that know only RFC codes back off.
    #[error("rate limited: retry after {retry_after}s")]
    RateLimited {
        /// Seconds until the limit resets.
        retry_after: u64,
    },
    /// `server_error`: anything not the caller's fault. The detail is logged, never echoed.
    #[error("server_error: {0}")]
    Server(String),
}

impl Error {
    /// The RFC error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::AccessDenied(_) => "access_denied",
            Self::LoginRequired(_) => "login_required",
            Self::ConsentRequired(_) => "consent_required",
            Self::InvalidRequestObject(_) => "invalid_request_object",
            Self::InvalidRequestUri(_) => "invalid_request_uri",
            Self::RequestUriNotSupported(_) => "request_uri_not_supported",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::AuthorizationPending(_) => "authorization_pending",
            Self::SlowDown(_) => "slow_down",
            Self::ExpiredToken(_) => "expired_token",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::TemporarilyUnavailable(_) | Self::RateLimited { .. } => "temporarily_unavailable",
            Self::Server(_) => "server_error",
        }
    }

    /// The HTTP status for a JSON error response (RFC 6749 §5.2, RFC 6750 §3.1).
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient(_) | Self::InvalidToken(_) => 401,
            Self::InsufficientScope(_) => 403,
            Self::TemporarilyUnavailable(_) => 503,
            Self::RateLimited { .. } => 429,
            Self::Server(_) => 500,
            Self::InvalidRequest(_)
            | Self::InvalidGrant(_)
            | Self::UnauthorizedClient(_)
            | Self::UnsupportedGrantType(_)
            | Self::UnsupportedResponseType(_)
            | Self::InvalidScope(_)
            | Self::InvalidTarget(_)
            | Self::AccessDenied(_)
            | Self::LoginRequired(_)
            | Self::ConsentRequired(_)
            | Self::InvalidRequestObject(_)
            | Self::InvalidRequestUri(_)
            | Self::RequestUriNotSupported(_)
            | Self::InvalidRedirectUri(_)
            | Self::InvalidClientMetadata(_)
            | Self::AuthorizationPending(_)
            | Self::SlowDown(_)
            | Self::ExpiredToken(_)
            | Self::InvalidDpopProof(_)
            | Self::UseDpopNonce { .. } => 400,
        }
    }

    /// The `error_description` safe to send: client-facing text with any character outside the
    /// RFC 6749 §5.2 set replaced. A server error never reveals its detail.
    #[must_use]
    pub fn description(&self) -> String {
        let text: &str = match self {
            Self::Server(_) => "the server failed to handle this request; it has been logged",
            Self::RateLimited { .. } => {
                "too many failed attempts from this client or address; wait for the time in Retry-After"
            }
            Self::UseDpopNonce { .. } => {
                "this server requires a nonce in DPoP proofs: put the DPoP-Nonce value of this response in the nonce claim of a new proof"
            }
            Self::InvalidRequest(d)
            | Self::InvalidClient(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::UnsupportedResponseType(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::AccessDenied(d)
            | Self::LoginRequired(d)
            | Self::ConsentRequired(d)
            | Self::InvalidRequestObject(d)
            | Self::InvalidRequestUri(d)
            | Self::RequestUriNotSupported(d)
            | Self::InvalidRedirectUri(d)
            | Self::InvalidClientMetadata(d)
            | Self::AuthorizationPending(d)
            | Self::SlowDown(d)
            | Self::ExpiredToken(d)
            | Self::InvalidDpopProof(d)
            | Self::InvalidToken(d)
            | Self::InsufficientScope(d)
            | Self::TemporarilyUnavailable(d) => d,
        };
        // Bounded: descriptions may quote what the caller sent, and they travel in redirects and
        // headers whose size proxies limit.
        let mut out: String = text
            .chars()
            .take(MAX_DESCRIPTION)
            .map(|c| match c {
                '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => c,
                _ => '\'',
            })
            .collect();
        if text.chars().nth(MAX_DESCRIPTION).is_some() {
            out.push_str("...");
        }
        out
    }
}

/// The causes of the errors operators most often chase, as bounded metric label values: `(error
/// code, words of the description, cause)`, first match wins. Every description that names one of
/// these causes is written in this crate or the server; an unlisted one counts as `other`.
const CAUSES: &[(&str, &str, &str)] = &[
    ("invalid_client", "unknown client_id", "unknown_client"),
    ("invalid_client", "wrong client_secret", "wrong_secret"),
    (
        "invalid_client",
        "registered for token_endpoint_auth_method",
        "wrong_auth_method",
    ),
    ("invalid_client", "client authentication is required", "no_credentials"),
    ("invalid_client", "metadata document", "metadata_document"),
    ("invalid_client", "assertion", "bad_assertion"),
    ("invalid_client", "malformed", "malformed_credentials"),
    ("invalid_client", "Basic scheme", "malformed_credentials"),
    ("invalid_grant", "code was already used", "code_replayed"),
    ("invalid_grant", "code has expired", "code_expired"),
    ("invalid_grant", "code is unknown", "code_unknown"),
    (
        "invalid_grant",
        "code was issued to another client",
        "code_other_client",
    ),
    ("invalid_grant", "redirect_uri", "redirect_uri_mismatch"),
    ("invalid_grant", "code_verifier", "pkce_mismatch"),
    ("invalid_grant", "dpop_jkt", "dpop_binding"),
    ("invalid_grant", "refresh token was already used", "refresh_reused"),
    ("invalid_grant", "refresh token is unknown", "refresh_unknown"),
    (
        "invalid_grant",
        "refresh token was issued to another client",
        "refresh_other_client",
    ),
    ("invalid_grant", "refresh token", "refresh_expired"),
    ("invalid_grant", "account is locked", "user_locked"),
    ("invalid_grant", "no longer exists", "user_deleted"),
    ("invalid_grant", "device_code", "device_code_unknown"),
    (
        "invalid_request",
        "is not registered for this client",
        "redirect_uri_unregistered",
    ),
    ("invalid_request", "redirect_uri is required", "redirect_uri_missing"),
    ("invalid_request", "code_challenge is required", "pkce_missing"),
    ("invalid_request", "code_challenge_method", "pkce_method"),
];

impl Error {
    /// Why, as a bounded label (`wrong_secret`, `code_replayed`, `pkce_mismatch`, ...; `other`
    /// when the description names none of the listed causes).
    #[must_use]
    pub fn cause(&self) -> &'static str {
        let code = self.code();
        let text = self.description();
        CAUSES
            .iter()
            .find(|(c, words, _)| *c == code && text.contains(words))
            .map_or("other", |(_, _, cause)| cause)
    }

    /// Every cause label there is.
    pub fn causes() -> impl Iterator<Item = &'static str> {
        CAUSES.iter().map(|(_, _, cause)| *cause).chain(["other"])
    }
}

/// Longest error description sent, in characters.
pub const MAX_DESCRIPTION: usize = 400;

/// Shorthand for an `invalid_request` with a static or formatted description.
pub fn invalid_request(description: impl Into<Description>) -> Error {
    Error::InvalidRequest(description.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_never_contains_quotes_or_backslashes() {
        let e = invalid_request("bad \"value\" \\ here\n");
        let d = e.description();
        assert!(!d.contains('"') && !d.contains('\\') && !d.contains('\n'), "{d}");
    }

    #[test]
    fn description_is_bounded() {
        let e = invalid_request(format!("prompt value {} is not supported", "x".repeat(7000)));
        assert!(e.description().len() <= MAX_DESCRIPTION + 3);
        assert!(e.description().ends_with("..."));
        assert_eq!(invalid_request("short").description(), "short");
    }

    #[test]
    fn causes_are_bounded_and_named() {
        let cases = [
            (
                Error::InvalidClient("client authentication failed: wrong client_secret".into()),
                "wrong_secret",
            ),
            (
                Error::InvalidGrant("the code was already used; the tokens issued with it are now revoked".into()),
                "code_replayed",
            ),
            (
                Error::InvalidGrant("code_verifier does not match the code_challenge sent to /oauth/authorize".into()),
                "pkce_mismatch",
            ),
            (
                Error::InvalidGrant("redirect_uri differs from the one in the authorization request".into()),
                "redirect_uri_mismatch",
            ),
            (
                Error::InvalidGrant("the refresh token was already used; every token is revoked".into()),
                "refresh_reused",
            ),
            (
                invalid_request("code_challenge is required (PKCE, S256)"),
                "pkce_missing",
            ),
            (invalid_request("prompt value x is not supported"), "other"),
            (Error::Server("boom".into()), "other"),
        ];
        for (e, cause) in cases {
            assert_eq!(e.cause(), cause, "{e}");
        }
        let all: Vec<&str> = Error::causes().collect();
        assert!(all.len() < 40 && all.contains(&"other"));
    }

    #[test]
    fn server_error_hides_detail() {
        let e = Error::Server("db password is hunter2".into());
        assert!(!e.description().contains("hunter2"));
        assert_eq!(e.status(), 500);
    }
}
