//! `GET|POST /oauth/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2), with request objects by value
//! (RFC 9101) and pushed requests (RFC 9126) resolved and validated by [`crate::authorization`].
//! Errors before the client and redirect URI are known good get an error page; every later error
//! is redirected with `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207).

use crate::authorization::{Channel, Invalid, Validated, resolve, validate};
use crate::http::error::PageError;
use crate::http::params;
use crate::interaction::{Back, after_login, begin_interaction, current_session};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::request::authorize::{Target, needs_login, state_for_error};
use gatehouse_protocol::types::UnixTime;
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
    let outer = Target::parse(&params).map_err(PageError::InvalidRequest)?;
    let client = crate::clients::find_for_page(state, &outer.client_id)
        .await?
        .ok_or(PageError::UnknownClient)?;
    let outer_state = state_for_error(&params);
    let (effective, source) = match resolve(state, &client, params, Channel::Front, now).await {
        Ok(resolved) => resolved,
        // A request object or pushed request that failed: the outer redirect URI, if registered,
        // hears of it (RFC 9101 §6.3); otherwise the error is shown.
        Err(e) => {
            return match outer.resolve_redirect_uri(&client.redirect_uris) {
                Ok(redirect) => Ok(Back {
                    uri: redirect.uri,
                    state: outer_state,
                }
                .error(&state.issuer, &e)),
                Err(_) => Err(PageError::InvalidRequest(e)),
            };
        }
    };
    match validate(state, &client, &effective, &source).await {
        Ok(valid) => {
            let back = Back::of(&valid.request);
            Ok(start(state, req, &client, valid, now)
                .await
                .unwrap_or_else(|e| back.error(&state.issuer, &e)))
        }
        Err(Invalid::Shown(e)) => Err(PageError::InvalidRequest(e)),
        Err(Invalid::Redirected(back, e)) => Ok(back.error(&state.issuer, &e)),
    }
}

async fn start(
    state: &AppState,
    req: &HttpRequest,
    client: &ClientRecord,
    valid: Validated,
    now: UnixTime,
) -> Result<HttpResponse, Error> {
    let Validated { request, hint_subject } = valid;
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
