//! `POST /oauth/par` (RFC 9126): a client pushes its authorization request, authenticated exactly
//! as at the token endpoint, and gets a `request_uri` to send the browser with. The request is
//! validated now by the same validator as `/oauth/authorize` ([`crate::authorization`]), so its
//! errors reach the client directly instead of through a browser, and validated again when used.

use crate::authorization::{Channel, Stored, resolve, validate};
use crate::client_auth::authenticate_form;
use crate::http::error::{ApiError, store_error};
use crate::random::random_token;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::request::request_object::PUSHED_URI_PREFIX;
use gatehouse_protocol::types::TokenHash;
use gatehouse_storage::PushedRequest;
use serde_json::json;

/// RFC 9449 §10.1: a DPoP proof at the push binds the code to its key, as `dpop_jkt` would; both
/// must then name the same key.
fn bind_to(params: Params, proof: &gatehouse_protocol::dpop::Proof) -> Result<Params, Error> {
    match params.get("dpop_jkt")? {
        Some(jkt) if jkt != proof.jkt => Err(invalid_request(
            "dpop_jkt differs from the thumbprint of the DPoP proof's key; send one of them, or the same key",
        )),
        Some(_) => Ok(params),
        None => with(&params, "dpop_jkt", &proof.jkt),
    }
}

/// `params` with one more parameter.
fn with(params: &Params, name: &str, value: &str) -> Result<Params, Error> {
    Params::from_checked_pairs(params.pairs().chain([(name, value)]))
}

/// What identifies and authenticates the client; not part of the authorization request.
const CREDENTIALS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// `POST /oauth/par`.
pub async fn push(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    handle(&state, &req, &body).await.map_err(ApiError::client)
}

async fn handle(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, Error> {
    let now = state.clock.now();
    // The proof before the client's credentials, as at the token endpoint (a nonce retry resends
    // the same assertion).
    let proof = crate::dpop::check(state, req, "/oauth/par", None)?;
    let (client, params) = authenticate_form(state, req, body).await?;
    if let Some(p) = &proof {
        crate::dpop::consume(state, p).await?;
    }
    if params.get("client_id")?.is_some_and(|id| id != client.id.as_str()) {
        return Err(invalid_request("client_id differs from the client that authenticated"));
    }
    let params = params.without(CREDENTIALS);
    let (mut effective, source) = resolve(state, &client, params, Channel::Pushing, now).await?;
    if !effective.has("client_id") {
        // Authenticated with a header: the request names its client all the same.
        effective = with(&effective, "client_id", client.id.as_str())?;
    }
    if let Some(proof) = &proof {
        effective = bind_to(effective, proof)?;
    }
    validate(state, &client, &effective, &source)
        .await
        .map_err(crate::authorization::Invalid::into_error)?;
    // RFC 9126 §2.2: at least 128 bits of entropy; 256 here, and only a hash is stored.
    let request_uri = format!("{PUSHED_URI_PREFIX}{}", random_token());
    let stored = Stored {
        params: effective.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        signed: source.signed,
    };
    let ttl = state.config.par_ttl.as_secs();
    let record = PushedRequest {
        hash: TokenHash::of(&request_uri),
        client_id: client.id.clone(),
        params: serde_json::to_string(&stored).map_err(|e| Error::Server(format!("encode a pushed request: {e}")))?,
        expires_at: now.plus(ttl),
    };
    state.store.push_request(&record).await.map_err(store_error)?;
    tracing::info!(target: "gatehouse::audit", event = "authorization.pushed", client_id = %client.id, signed = source.signed);
    let mut res = HttpResponse::Created();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(nonce) = proof.and(crate::dpop::fresh_nonce(state)) {
        res.insert_header(("DPoP-Nonce", nonce));
    }
    Ok(res.json(json!({ "request_uri": request_uri, "expires_in": ttl })))
}
