//! `GET|POST /oauth/userinfo` (OIDC Core §5.3): claims for the user of a bearer token.

use crate::http::error::{ApiError, Challenge, store_error};
use crate::http::params;
use crate::issue::released;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::types::UnixTime;

/// `GET /oauth/userinfo`: the token in the `Authorization` header.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let token = required(bearer(&req, None).map_err(err)?)?;
    respond(&state, &token, now).await.map_err(err)
}

/// `POST /oauth/userinfo`: the token in the header or the form body (RFC 6750 §2.2), not both.
pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let form = if body.is_empty() {
        None
    } else {
        Some(params::form(&req, &body).map_err(err)?)
    };
    let token = required(bearer(&req, form.as_ref()).map_err(err)?)?;
    respond(&state, &token, now).await.map_err(err)
}

fn err(e: Error) -> ApiError {
    ApiError::bearer(e)
}

/// The access token of the request; `Ok(None)` when the request carries no credentials at all.
fn bearer(req: &HttpRequest, form: Option<&gatehouse_protocol::request::Params>) -> Result<Option<String>, Error> {
    let header = params::authorization(req).map(|h| {
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        (scheme.eq_ignore_ascii_case("bearer"), rest.trim().to_owned())
    });
    let body = form.map(|f| f.get("access_token")).transpose()?.flatten();
    match (header, body) {
        (Some(_), Some(_)) => Err(invalid_request(
            "send the access token once: in the Authorization header or the body, not both",
        )),
        (Some((true, token)), None) if !token.is_empty() => Ok(Some(token)),
        (Some(_), None) => Err(Error::InvalidToken(
            "the Authorization header must be: Bearer <access token>".into(),
        )),
        (None, Some(token)) => Ok(Some(token.to_owned())),
        (None, None) => Ok(None),
    }
}

/// The token, or the answer to a request without one: RFC 6750 §3.1 says such a challenge carries
/// no error code (the body still says what to send).
fn required(token: Option<String>) -> Result<String, ApiError> {
    token.ok_or_else(|| ApiError {
        error: Error::InvalidToken("an access token is required: send Authorization: Bearer <token>".into()),
        challenge: Challenge::BearerBare,
    })
}

async fn respond(state: &AppState, token: &str, now: UnixTime) -> Result<HttpResponse, Error> {
    let inactive = || Error::InvalidToken("the access token is unknown, expired or revoked".into());
    let hash = crate::issue::access_token_hash(state, token).ok_or_else(inactive)?;
    let record = state
        .store
        .find_access_token(&hash, now)
        .await
        .map_err(store_error)?
        .ok_or_else(inactive)?;
    let Some(subject) = &record.subject else {
        return Err(Error::InvalidToken(
            "this access token has no user (client_credentials); userinfo needs a user's token".into(),
        ));
    };
    if !record.scope.contains("openid") {
        return Err(Error::InsufficientScope(
            "userinfo needs an access token granted the openid scope".into(),
        ));
    }
    let user = state
        .store
        .find_user(subject)
        .await
        .map_err(store_error)?
        .ok_or_else(|| Error::InvalidToken("the user of this access token no longer exists".into()))?;
    if user.locked {
        return Err(Error::InvalidToken("the account of this access token is locked".into()));
    }
    let mut claims = released(&user, &record.scope, &record.claims.userinfo);
    claims.insert("sub".into(), serde_json::json!(user.id));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(claims))
}
