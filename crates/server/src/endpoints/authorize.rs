//! `GET|POST /oauth/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2). Errors before the client and
//! redirect URI are known good get an error page; every later error is redirected with `state`
//! and `iss` (RFC 6749 §4.1.2.1, RFC 9207).

use crate::http::error::{PageError, store_error};
use crate::http::params;
use crate::interaction::{Back, after_login, begin_interaction, current_session};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::request::authorize::{AuthorizationRequest, Target, needs_login, state_for_error};
use gatehouse_protocol::types::{GrantType, UnixTime};
use gatehouse_storage::{ClientRecord, InteractionLogin};

/// `GET /oauth/authorize`.
///
/// # Errors
/// An error page while the client or redirect URI is unknown; later errors are redirected.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    handle(&state, &req, params::query(&req)).await
}

/// `POST /oauth/authorize` (OIDC Core §3.1.2.1: form-encoded body).
///
/// # Errors
/// An error page while the client or redirect URI is unknown; later errors are redirected.
pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, PageError> {
    handle(&state, &req, params::form(&req, &body)).await
}

async fn handle(state: &AppState, req: &HttpRequest, params: Result<Params, Error>) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let params = params.map_err(PageError::InvalidRequest)?;
    let target = Target::parse(&params).map_err(PageError::InvalidRequest)?;
    let client = state
        .store
        .find_client(&target.client_id)
        .await?
        .ok_or(PageError::UnknownClient)?;
    let redirect = target
        .resolve_redirect_uri(&client.redirect_uris)
        .map_err(PageError::InvalidRequest)?;
    // From here on the redirect URI is trustworthy: errors go back to the client.
    let back = Back {
        uri: redirect.uri.clone(),
        state: state_for_error(&params),
    };
    let result = match AuthorizationRequest::parse(&params, target, redirect) {
        Ok(request) => start(state, req, &client, request, now).await,
        Err(e) => Err(e),
    };
    Ok(result.unwrap_or_else(|e| back.error(&state.issuer, &e)))
}

async fn start(
    state: &AppState,
    req: &HttpRequest,
    client: &ClientRecord,
    mut request: AuthorizationRequest,
    now: UnixTime,
) -> Result<HttpResponse, Error> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(Error::UnauthorizedClient(
            "this client is not allowed the authorization_code grant; add it with gatehouse client update --grant-type authorization_code".into(),
        ));
    }
    verify_scopes(state, client, &request).await?;
    request.claims.retain_allowed(&client.scopes);
    gatehouse_protocol::request::resource::verify_allowed(&request.resources, &client.resources)?;
    let hint_subject = request
        .id_token_hint
        .as_deref()
        .map(|h| verify_id_token_hint(state, h, client))
        .transpose()?;
    let login = match current_session(state, req, now).await? {
        Some((session, user)) if !needs_login(&request, &user.id, session.auth_time, hint_subject.as_deref(), now) => {
            Some(InteractionLogin {
                user_id: user.id,
                auth_time: session.auth_time,
                sid: session.sid,
            })
        }
        _ => None,
    };
    match login {
        None if request.prompt.none => Err(Error::LoginRequired(
            "prompt=none was requested but the user must sign in (no session, or the session is too old or for another user)".into(),
        )),
        None => begin_interaction(state, req, request, None, "login", now).await,
        Some(login) => after_login(state, req, client, request, login, None, now).await,
    }
}

async fn verify_scopes(state: &AppState, client: &ClientRecord, request: &AuthorizationRequest) -> Result<(), Error> {
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
    Ok(())
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
