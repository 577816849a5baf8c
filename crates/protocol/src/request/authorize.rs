//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), parsed in two steps so that
//! errors are redirected only once the client and redirect URI are known good (RFC 6749 §4.1.2.1).

use super::Params;
use crate::claims::ClaimsRequest;
use crate::error::{Error, invalid_request};
use crate::types::{ClientId, CodeChallenge, RedirectUri, ScopeSet};
use serde::{Deserialize, Serialize};

/// Step one: who is asking and where errors may go. Any error here is shown on an error page and
/// never redirected.
#[derive(Debug)]
pub struct Target {
    /// The `client_id`.
    pub client_id: ClientId,
    /// The `redirect_uri` as sent, if sent.
    pub redirect_uri: Option<String>,
}

impl Target {
    /// Reads `client_id` and `redirect_uri`.
    ///
    /// # Errors
    /// `invalid_request` when `client_id` is missing, malformed or repeated, or `redirect_uri` is
    /// repeated.
    pub fn parse(params: &Params) -> Result<Self, Error> {
        let client_id = ClientId::parse(
            params
                .get("client_id")?
                .ok_or_else(|| invalid_request("client_id is required"))?,
        )?;
        let redirect_uri = params.get("redirect_uri")?.map(str::to_owned);
        Ok(Self {
            client_id,
            redirect_uri,
        })
    }

    /// Resolves the redirect URI against the client's registered ones. An omitted `redirect_uri`
    /// is allowed when exactly one is registered (draft-ietf-oauth-v2-1-13 §4.1.1); OIDC requests
    /// must send it, which [`AuthorizationRequest::parse`] enforces once errors can be redirected.
    ///
    /// # Errors
    /// `invalid_request` when the URI is not registered (with a hint when it nearly is) or
    /// omitted while several are registered.
    pub fn resolve_redirect_uri(&self, registered: &[RedirectUri]) -> Result<ResolvedRedirect, Error> {
        match &self.redirect_uri {
            Some(requested) => {
                if registered.iter().any(|r| r.matches(requested)) {
                    return Ok(ResolvedRedirect {
                        uri: RedirectUri::from_stored(requested.clone()),
                        supplied: true,
                    });
                }
                let hint = registered.iter().find_map(|r| r.near_miss(requested));
                Err(invalid_request(match hint {
                    Some(h) => format!("redirect_uri is not registered for this client ({h}); redirect URIs must match exactly"),
                    None => "redirect_uri is not registered for this client; redirect URIs must match a registered one exactly".to_owned(),
                }))
            }
            None => match registered {
                [only] => Ok(ResolvedRedirect {
                    uri: only.clone(),
                    supplied: false,
                }),
                [] => Err(invalid_request(
                    "this client has no registered redirect URI; register one with gatehouse client update",
                )),
                _ => Err(invalid_request(
                    "redirect_uri is required because this client has several registered",
                )),
            },
        }
    }
}

/// The redirect URI errors and codes go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedRedirect {
    /// The URI to redirect to (as requested, which may differ from the registered one only in a
    /// loopback port).
    pub uri: RedirectUri,
    /// Whether the request carried `redirect_uri`; if so the token request must repeat it
    /// (RFC 6749 §4.1.3).
    pub supplied: bool,
}

/// The `prompt` parameter (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: no page may be shown.
    pub none: bool,
    /// `login` (or `select_account`): re-authenticate even with a session.
    pub login: bool,
    /// `consent`: ask for consent even if it was given before.
    pub consent: bool,
}

impl Prompt {
    fn parse(value: Option<&str>) -> Result<Self, Error> {
        let mut p = Self::default();
        for v in value.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => p.none = true,
                "login" | "select_account" => p.login = true,
                "consent" => p.consent = true,
                other => {
                    return Err(invalid_request(format!(
                        "prompt value {other} is not supported; use none, login, consent or select_account"
                    )));
                }
            }
        }
        if p.none && (p.login || p.consent) {
            return Err(invalid_request(
                "prompt=none cannot be combined with other prompt values",
            ));
        }
        Ok(p)
    }
}

/// A complete, valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: ClientId,
    /// Where the response goes.
    pub redirect: ResolvedRedirect,
    /// Requested scopes (not yet checked against the registry or the client).
    pub scope: ScopeSet,
    /// Opaque client state, echoed back.
    pub state: Option<String>,
    /// OIDC nonce, copied into the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// The prompt values.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// Username suggestion for the login form.
    pub login_hint: Option<String>,
    /// A previously issued ID token naming the expected user (verified by the caller).
    pub id_token_hint: Option<String>,
    /// Claims asked for individually.
    pub claims: ClaimsRequest,
    /// Resources the tokens are for (RFC 8707), checked against the client by the caller.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The pushed request it came from (RFC 9126): the base64url SHA-256 of its `request_uri`,
    /// used up when a code is issued.
    #[serde(default)]
    pub pushed_request: Option<String>,
    /// The thumbprint of the DPoP key the code is to be bound to (`dpop_jkt`, RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    /// Parses everything after [`Target`]. Errors from here on are redirected.
    ///
    /// # Errors
    /// `invalid_request` for repeated parameters, a missing or malformed PKCE challenge, bad
    /// `prompt`/`max_age`/`claims`, a missing `redirect_uri` on an OpenID request, or an
    /// unsupported `response_mode`; `unsupported_response_type` for anything but `code`;
    /// `request_not_supported` / `request_uri_not_supported` for request objects (OIDC Core §6);
    /// `invalid_scope` for a malformed scope.
    pub fn parse(params: &Params, target: Target, redirect: ResolvedRedirect) -> Result<Self, Error> {
        params.reject_repeats()?;
        match params.get("response_type")? {
            Some("code") => {}
            None => {
                return Err(invalid_request("response_type is required and must be code"));
            }
            Some(_) => {
                return Err(Error::UnsupportedResponseType(
                    "only response_type=code is supported (OAuth 2.1 authorization code flow with PKCE)".into(),
                ));
            }
        }
        // The caller resolved `request` and `request_uri` into these parameters
        // (`request_object`); they never nest (OIDC Core §6.1, RFC 9126 §2.1).
        for nested in ["request", "request_uri"] {
            if params.has(nested) {
                return Err(invalid_request(format!(
                    "{nested} cannot be used inside a request object or a pushed request"
                )));
            }
        }
        match params.get("response_mode")? {
            None | Some("query") => {}
            Some(_) => return Err(invalid_request("response_mode must be query (or omitted)")),
        }
        let scope = ScopeSet::parse(params.get("scope")?.unwrap_or(""))?;
        if scope.contains("openid") && !redirect.supplied {
            return Err(invalid_request("redirect_uri is required for OpenID Connect requests"));
        }
        let code_challenge = CodeChallenge::parse(params.get("code_challenge")?, params.get("code_challenge_method")?)?;
        let max_age = params
            .get("max_age")?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| invalid_request("max_age must be a non-negative integer number of seconds"))
            })
            .transpose()?;
        let claims = params
            .get("claims")?
            .map(ClaimsRequest::parse)
            .transpose()?
            .unwrap_or_default();
        // Bounded, because an unauthenticated request is stored (the pending interaction) until the
        // user signs in, and `state` comes back in every redirect.
        let owned = |name: &str| -> Result<Option<String>, Error> {
            let value = params.get(name)?;
            let limit = match name {
                "state" => MAX_STATE,
                "nonce" => MAX_NONCE,
                "id_token_hint" => MAX_ID_TOKEN_HINT,
                _ => MAX_HINT,
            };
            if value.is_some_and(|v| v.len() > limit) {
                return Err(invalid_request(format!(
                    "{name} is longer than {limit} bytes; send a shorter value"
                )));
            }
            Ok(value.map(str::to_owned))
        };
        Ok(Self {
            client_id: target.client_id,
            redirect,
            scope,
            state: owned("state")?,
            nonce: owned("nonce")?,
            code_challenge,
            prompt: Prompt::parse(params.get("prompt")?)?,
            max_age,
            login_hint: owned("login_hint")?,
            id_token_hint: owned("id_token_hint")?,
            claims,
            resources: super::resource::parse_resources(params)?,
            pushed_request: None,
            dpop_jkt: parse_jkt(params.get("dpop_jkt")?)?,
        })
    }
}

/// `dpop_jkt`: an RFC 7638 SHA-256 thumbprint, 43 base64url characters.
fn parse_jkt(value: Option<&str>) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(v) if v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(invalid_request(
            "dpop_jkt must be the base64url SHA-256 thumbprint (RFC 7638) of the DPoP key, 43 characters",
        )),
    }
}

/// Longest `state` accepted (and echoed back).
pub const MAX_STATE: usize = 2048;
/// Longest `nonce` accepted.
pub const MAX_NONCE: usize = 1024;
/// Longest `login_hint` accepted.
pub const MAX_HINT: usize = 1024;
/// Longest `id_token_hint` accepted (an RS256 ID token with every claim fits easily).
pub const MAX_ID_TOKEN_HINT: usize = 4096;

/// The `state` to echo in an error redirect, if it can be read unambiguously and is not oversized.
#[must_use]
pub fn state_for_error(params: &Params) -> Option<String> {
    params
        .get("state")
        .ok()
        .flatten()
        .filter(|s| s.len() <= MAX_STATE)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;

/// Whether the user must (re-)authenticate although a browser session exists: `prompt=login`,
/// a `max_age` older than the session's `auth_time` (`max_age=0` means always, OIDC Core
/// §3.1.2.1), or an `id_token_hint` or a `claims` `sub` value (§5.5.1) naming another user.
#[must_use]
pub fn needs_login(
    request: &AuthorizationRequest,
    session_user: &str,
    auth_time: crate::types::UnixTime,
    hint_subject: Option<&str>,
    now: crate::types::UnixTime,
) -> bool {
    request.prompt.login
        || request
            .max_age
            .is_some_and(|max| max == 0 || now.since(auth_time) > max)
        || hint_subject.is_some_and(|sub| sub != session_user)
        || request.claims.sub.as_deref().is_some_and(|sub| sub != session_user)
}

impl AuthorizationRequest {
    /// What the user consents to: the requested scopes, and the scopes covering claims requested
    /// individually (OIDC Core §3.1.2.4: no release without an authorization decision).
    #[must_use]
    pub fn consent_scope(&self) -> ScopeSet {
        self.scope.union(&self.claims.consent_scopes())
    }
}

/// Whether the consent page must be shown: `prompt=consent`, or the request asks for a scope (or
/// an individually requested claim covered by a scope) the user has not consented to for this
/// client.
#[must_use]
pub fn needs_consent(request: &AuthorizationRequest, consented: Option<&ScopeSet>) -> bool {
    request.prompt.consent || !consented.is_some_and(|c| request.consent_scope().is_subset(c))
}
