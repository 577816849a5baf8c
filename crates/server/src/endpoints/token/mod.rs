//! `POST /oauth/token` (RFC 6749 §3.2): authenticate the client, spend its request budget, parse
//! the grant, one exhaustive `match`. Each grant has its own file; the decisions themselves are
//! in `gatehouse_protocol::grant`.

mod authorization_code;
mod client_credentials;
mod device_code;
mod refresh_token;

use crate::client_auth::{authenticate_form, limited, per_address};
use crate::http::error::{ApiError, store_error};
use crate::issue::IssueError;
use crate::metrics::METRICS;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::request::token::TokenRequest;
use gatehouse_protocol::types::ClientKind;
use gatehouse_storage::{ClientRecord, UserRecord};

/// `POST /oauth/token`.
pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    handle(&state, &req, &body).await.map_err(ApiError::client)
}

async fn handle(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, Error> {
    let now = state.clock.now();
    // The proof is checked first (a client told to retry with a DPoP nonce resends the same body,
    // and its single-use client assertion must not have been spent on the refused attempt), and
    // used up once the client is known (so anonymous requests cannot make the server write).
    let proof = crate::dpop::check(state, req, "/oauth/token", None)?;
    let (client, params) = authenticate_form(state, req, body).await?;
    if let Some(p) = &proof {
        crate::dpop::consume(state, p).await?;
    }
    spend_budget(state, req, &client)?;
    let request = TokenRequest::parse(&params)?;
    if proof.is_none() && client.dpop_bound_access_tokens {
        return Err(crate::dpop::refused(
            "missing",
            "this client's tokens must be bound to its key (dpop_bound_access_tokens): send a DPoP proof with the request".into(),
        ));
    }
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let grant_type = request.grant_type();
    let response = match request {
        TokenRequest::AuthorizationCode(r) => authorization_code::exchange(state, &client, r, jkt, now).await?,
        TokenRequest::RefreshToken(r) => refresh_token::refresh(state, &client, r, jkt, now).await?,
        TokenRequest::ClientCredentials(r) => client_credentials::issue(state, &client, r, jkt, now).await?,
        TokenRequest::DeviceCode(r) => device_code::redeem(state, &client, r, jkt, now).await?,
    };
    METRICS.tokens_issued.with_label_values(&[grant_type.as_str()]).inc();
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if let Some(nonce) = proof.and(crate::dpop::fresh_nonce(state)) {
        res.insert_header(("DPoP-Nonce", nonce));
    }
    Ok(res.json(response))
}

/// The optional request budget is counted per authenticated client: an unauthenticated request
/// naming a client_id must never spend that client's budget. A public client proves nothing by
/// naming itself, so its budget is per (client_id, address).
fn spend_budget(state: &AppState, req: &HttpRequest, client: &ClientRecord) -> Result<(), Error> {
    let budget_key = if client.auth_method.kind() == ClientKind::Public {
        per_address(state, req, client.id.as_str())
    } else {
        client.id.as_str().to_owned()
    };
    match state.limiters.token_requests.hit(&budget_key) {
        Some(retry_after) => Err(limited(&state.limiters.token_requests, retry_after)),
        None => Ok(()),
    }
}

/// The user a grant's tokens are for, while their account exists and is not locked.
async fn live_user(state: &AppState, id: &str) -> Result<UserRecord, Error> {
    let found = state.store.find_user(id).await.map_err(store_error)?;
    gatehouse_protocol::grant::live_user(found, |u| u.locked)
}

impl From<IssueError> for Error {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Store(e) => store_error(e),
            IssueError::Sign(detail) => Error::Server(detail),
        }
    }
}
