//! Authorization requests wherever they arrive (`/oauth/authorize`, `/oauth/par`): where their
//! parameters come from (the query or form, a signed request object, a pushed request), and the one
//! validator every request passes, whichever way it came.
//!
//! The validator is one table of checks in one place: the client and redirect URI (errors shown,
//! never redirected), then the client's requirements (PAR, signed request objects), the request's
//! own parameters (`AuthorizationRequest::parse`), and what the client is allowed (grant, scopes,
//! claims, resources, the `id_token_hint`). `/oauth/par` runs it when a request is pushed, and
//! `/oauth/authorize` runs it again when the pushed request is used, so a client changed in between
//! is judged as it is now.

use crate::http::error::store_error;
use crate::interaction::Back;
use crate::state::AppState;
use gatehouse_protocol::Error;
use gatehouse_protocol::client_jwt::Purpose;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::request::authorize::{AuthorizationRequest, Target, state_for_error};
use gatehouse_protocol::request::request_object;
use gatehouse_protocol::types::{GrantType, TokenHash, UnixTime, b64url};
use gatehouse_storage::ClientRecord;
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on a request object's `exp` and `nbf`, in seconds.
const REQUEST_OBJECT_SKEW: i64 = 60;

/// How a request's parameters arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// In the query or form of `/oauth/authorize`.
    Front,
    /// Being pushed to `/oauth/par`.
    Pushing,
    /// From a pushed request: the SHA-256 of its `request_uri`, consumed when a code is issued.
    Pushed(TokenHash),
}

/// Where a request's parameters came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// How they arrived.
    pub channel: Channel,
    /// They were inside a request object signed by the client.
    pub signed: bool,
}

/// A pushed request as stored: its parameters and whether they came signed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    /// The parameters, in order.
    pub params: Vec<(String, String)>,
    /// They came in a request object the client signed.
    pub signed: bool,
}

/// The parameters that count, for a request that arrived as `channel`: those of the signed
/// request object (`request`) or the pushed request (`request_uri`) if there is one, else
/// `params` themselves (RFC 9101 §5, RFC 9126 §4).
///
/// # Errors
/// `invalid_request_object` for a request object that does not verify or breaks a rule;
/// `invalid_request_uri` for an unknown, expired or foreign pushed request;
/// `request_uri_not_supported` for a `request_uri` that is not ours.
pub async fn resolve(
    state: &AppState,
    client: &ClientRecord,
    params: Params,
    channel: Channel,
    now: UnixTime,
) -> Result<(Params, Source), Error> {
    let request = params.get("request")?;
    let request_uri = params.get("request_uri")?;
    match (request, request_uri) {
        (Some(_), Some(_)) => Err(invalid_request(
            "send request or request_uri, not both (RFC 9101 section 5)",
        )),
        (None, Some(_)) if channel == Channel::Pushing => Err(invalid_request(
            "request_uri cannot be pushed (RFC 9126 section 2.1); push the parameters or a request object",
        )),
        (None, Some(uri)) => pushed(state, client, uri, now).await,
        (Some(jwt), None) => Ok((
            request_object(state, client, jwt, now).await?,
            Source { channel, signed: true },
        )),
        (None, None) => Ok((params, Source { channel, signed: false })),
    }
}

/// The parameters of a pushed request this client pushed, if it is still live.
async fn pushed(state: &AppState, client: &ClientRecord, uri: &str, now: UnixTime) -> Result<(Params, Source), Error> {
    request_object::pushed_reference(uri)?;
    let hash = TokenHash::of(uri);
    let found = state
        .store
        .find_pushed_request(&hash, now)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            Error::InvalidRequestUri(
                "request_uri is unknown or has expired (a pushed request lives for GATEHOUSE_PAR_TTL); push the request again"
                    .into(),
            )
        })?;
    if found.client_id != client.id {
        return Err(Error::InvalidRequestUri(
            "request_uri was pushed by another client; a client can only use its own pushed requests".into(),
        ));
    }
    let stored: Stored = serde_json::from_str(&found.params)
        .map_err(|e| Error::Server(format!("a stored pushed request could not be read: {e}")))?;
    let params = Params::from_checked_pairs(stored.params.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok((
        params,
        Source {
            channel: Channel::Pushed(hash),
            signed: stored.signed,
        },
    ))
}

/// The parameters inside a request object the client signed (RFC 9101 §6.1, OIDC Core §6.3):
/// verified with its keys and its registered algorithm.
async fn request_object(state: &AppState, client: &ClientRecord, jwt: &str, now: UnixTime) -> Result<Params, Error> {
    let verified = state
        .client_keys
        .verify(
            client,
            jwt,
            Purpose::RequestObject,
            client.request_object_signing_alg.as_deref(),
            "request object",
            Error::InvalidRequestObject,
        )
        .await?;
    request_object::params_of(
        &verified.claims,
        client.id.as_str(),
        &state.issuer,
        now.0,
        REQUEST_OBJECT_SKEW,
    )
}

/// Why a request did not validate.
pub enum Invalid {
    /// Before the client and redirect URI checked out: shown, never redirected.
    Shown(Error),
    /// After: sent back to the client.
    Redirected(Back, Error),
}

impl Invalid {
    /// The error, wherever it goes.
    #[must_use]
    pub fn into_error(self) -> Error {
        match self {
            Self::Shown(e) | Self::Redirected(_, e) => e,
        }
    }
}

/// A request that passed every check.
pub struct Validated {
    /// The request.
    pub request: AuthorizationRequest,
    /// The `sub` its `id_token_hint` names.
    pub hint_subject: Option<String>,
}

/// The one validator of authorization requests. See the module documentation.
///
/// # Errors
/// [`Invalid`], with the RFC error.
pub async fn validate(
    state: &AppState,
    client: &ClientRecord,
    params: &Params,
    source: &Source,
) -> Result<Validated, Invalid> {
    let target = Target::parse(params).map_err(Invalid::Shown)?;
    if target.client_id != client.id {
        return Err(Invalid::Shown(invalid_request(format!(
            "client_id {} is not the client that sent the request ({})",
            target.client_id, client.id
        ))));
    }
    let redirect = target
        .resolve_redirect_uri(&client.redirect_uris)
        .map_err(Invalid::Shown)?;
    // From here on the redirect URI is trustworthy: errors go back to the client.
    let back = Back {
        uri: redirect.uri.clone(),
        state: state_for_error(params),
    };
    let checked = async {
        require_channel(state, client, source)?;
        let mut request = AuthorizationRequest::parse(params, target, redirect)?;
        if let Channel::Pushed(hash) = &source.channel {
            request.pushed_request = Some(b64url(hash.as_bytes()));
        }
        // OIDC Registration §2: the client's default_max_age stands in for a missing max_age.
        request.max_age = request.max_age.or(client.default_max_age);
        allowed(state, client, &mut request).await?;
        let hint_subject = request
            .id_token_hint
            .as_deref()
            .map(|h| verify_id_token_hint(state, h, client))
            .transpose()?;
        Ok(Validated { request, hint_subject })
    };
    checked.await.map_err(|e| Invalid::Redirected(back, e))
}

/// The client's and the server's requirements on how requests arrive: pushed (RFC 9126 §5,
/// `require_pushed_authorization_requests`), signed (RFC 9101 §10.5,
/// `require_signed_request_object`).
fn require_channel(state: &AppState, client: &ClientRecord, source: &Source) -> Result<(), Error> {
    let pushed = matches!(source.channel, Channel::Pushing | Channel::Pushed(_));
    if !pushed && (client.require_pushed_authorization_requests || state.config.require_par) {
        let who = if client.require_pushed_authorization_requests {
            "this client"
        } else {
            "this server"
        };
        return Err(invalid_request(format!(
            "{who} requires pushed authorization requests: POST the parameters to {}/oauth/par and send only client_id and the request_uri it returns",
            state.issuer
        )));
    }
    if !source.signed && client.require_signed_request_object {
        return Err(invalid_request(
            "this client requires signed request objects: send the parameters inside a JWT signed with one of its keys, as the request parameter",
        ));
    }
    Ok(())
}

/// What the client is allowed: the grant, the scopes (registered, and the client's), the claims
/// covered by them, and the resources.
async fn allowed(state: &AppState, client: &ClientRecord, request: &mut AuthorizationRequest) -> Result<(), Error> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(Error::UnauthorizedClient(
            "this client is not allowed the authorization_code grant; add it with gatehouse client update --grant-type authorization_code".into(),
        ));
    }
    let registry = state.store.list_scopes().await.map_err(store_error)?;
    for scope in request.scope.iter() {
        if !registry.iter().any(|r| r.name == scope.as_str()) {
            return Err(Error::InvalidScope(
                format!(
                    "scope {} is not registered on this server; see scopes_supported in the discovery document",
                    scope.as_str()
                )
                .into(),
            ));
        }
        if !client.scopes.contains(scope.as_str()) {
            return Err(Error::InvalidScope(
                format!(
                    "scope {} is not allowed for this client (allowed: {})",
                    scope.as_str(),
                    client.scopes.to_param()
                )
                .into(),
            ));
        }
    }
    request.claims.retain_allowed(&client.scopes);
    gatehouse_protocol::request::resource::verify_allowed(&request.resources, &client.resources)
}

/// The `sub` of an `id_token_hint`: it must be an ID token we signed, for this client.
fn verify_id_token_hint(state: &AppState, hint: &str, client: &ClientRecord) -> Result<String, Error> {
    let bad = || invalid_request("id_token_hint is not an ID token issued by this provider to this client");
    let (header, claims) = state.keys().verify_with_header(hint).ok_or_else(bad)?;
    // Our ID tokens are `typ: JWT`; a JWT access token (`at+jwt`) or any other signed object of
    // ours is not a hint, even where its claims would fit (RFC 8725 §3.11: explicit typing).
    if header["typ"].as_str() != Some("JWT") {
        return Err(bad());
    }
    if claims["iss"].as_str() != Some(state.issuer.as_str()) {
        return Err(bad());
    }
    let aud_ok = match &claims["aud"] {
        serde_json::Value::String(a) => a == client.id.as_str(),
        serde_json::Value::Array(a) => a.iter().any(|v| v.as_str() == Some(client.id.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Err(bad());
    }
    claims["sub"].as_str().map(str::to_owned).ok_or_else(bad)
}
