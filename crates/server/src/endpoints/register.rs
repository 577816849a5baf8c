//! Dynamic client registration: `POST /oauth/register` (RFC 7591 §3) and the client
//! configuration endpoint `GET|PUT|DELETE /oauth/register/{client_id}` (RFC 7592 §2), served when
//! `GATEHOUSE_REGISTRATION` is `token` or `open`.
//!
//! A client registered here describes itself: it gets what its metadata says within its
//! registration policy, never an operator-only power (introspection, resources), and its name is
//! shown to users as self-asserted. Initial and registration access tokens are stored hashed and
//! compared in constant time.

use crate::config::RegistrationMode;
use crate::http::error::{ApiError, store_error};
use crate::http::params;
use crate::protect::{address_key, client_ip};
use crate::random::random_token;
use crate::registration::{check_scopes, response};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::registration::{ClientMetadata, Policy, Source};
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};
use gatehouse_storage::{ClientOrigin, ClientRecord};
use serde_json::{Map, Value};

/// The largest registration request read.
const MAX_BODY: usize = 16 * 1024;

/// Members a client may not send when it replaces its registration (RFC 7592 §2.2).
const SERVER_MEMBERS: &[&str] = &[
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

/// `POST /oauth/register`.
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let address = address_key(client_ip(&req, &state.config.trusted_proxies));
    let limiter = &state.limiters.registrations;
    if let Some(retry_after) = limiter.hit(&address) {
        return Err(crate::client_auth::limited(limiter, retry_after).into());
    }
    let members = json_body(&req, &body).map_err(ApiError::client)?;
    let now = state.clock.now();
    let presented = bearer(&req);
    // The token's policy is read first and the token used only once the metadata is valid, so a
    // mistake in the request does not cost one of its uses.
    let policy = policy_for(&state, presented.as_deref(), now).await?;
    let metadata = ClientMetadata::parse(&members, policy, Source::Registration).map_err(ApiError::client)?;
    state.outbounds.dynamic.vet_metadata(&metadata).await?;
    check_scopes(&state, &metadata).await?;
    if let Some(token) = &presented {
        use_token(&state, token, now).await?;
    }
    let mut client = ClientRecord::described(crate::random::client_id(), metadata, ClientOrigin::Registration, now);
    client.registration_policy = Some(policy.name.clone());
    client.resources.clone_from(&policy.resources);
    let secret = client.auth_method.has_secret().then(random_token);
    client.secret_hash = secret.as_deref().map(TokenHash::of);
    client.secret_set_at = secret.as_ref().map(|_| now);
    let access_token = random_token();
    client.registration_token_hash = Some(TokenHash::of(&access_token));
    state.store.create_client(&client).await.map_err(store_error)?;
    tracing::info!(target: "gatehouse::audit", event = "client.registered", client_id = %client.id, policy = %policy.name, address = %address);
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response(&state, &client, secret.as_deref(), Some(&access_token))))
}

/// `GET /oauth/register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = managed(&state, &req, &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response(&state, &client, None, None)))
}

/// `PUT /oauth/register/{client_id}` (RFC 7592 §2.2): a full replacement. The registration access
/// token is rotated; a client that now needs a secret gets one.
pub async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let old = managed(&state, &req, &id).await?;
    let members = json_body(&req, &body).map_err(ApiError::client)?;
    check_replacement(&members, &old).map_err(ApiError::client)?;
    let policy = policy_of(&state, &old)?;
    let metadata = ClientMetadata::parse(&members, policy, Source::Registration).map_err(ApiError::client)?;
    state.outbounds.dynamic.vet_metadata(&metadata).await?;
    check_scopes(&state, &metadata).await?;
    let mut client = old.clone();
    // Everything the metadata covers is replaced; the resources (from the policy, or given by the
    // operator since) stay.
    client.apply(metadata);
    let secret = (client.auth_method.has_secret() && client.secret_hash.is_none()).then(random_token);
    if let Some(s) = &secret {
        client.secret_hash = Some(TokenHash::of(s));
        client.secret_set_at = Some(state.clock.now());
    }
    let access_token = random_token();
    client.registration_token_hash = Some(TokenHash::of(&access_token));
    let forget = client.shown_identity() != old.shown_identity();
    let replaced = state
        .store
        .replace_client(&client, forget, old.registration_token_hash.as_ref())
        .await
        .map_err(store_error)?;
    if !replaced {
        return Err(ApiError::bearer(unknown()));
    }
    tracing::info!(target: "gatehouse::audit", event = "client.registration_updated", client_id = %client.id, consent_forgotten = forget);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response(&state, &client, secret.as_deref(), Some(&access_token))))
}

/// RFC 7592 §2.2: the body names the client, leaves out what only the server sets, and repeats
/// the secret, if at all, as it is.
fn check_replacement(members: &Map<String, Value>, old: &ClientRecord) -> Result<(), Error> {
    if members.get("client_id").and_then(Value::as_str) != Some(old.id.as_str()) {
        return Err(invalid_request(
            "client_id: the body must name this client's client_id (RFC 7592 section 2.2)",
        ));
    }
    if let Some(member) = SERVER_MEMBERS.iter().find(|m| members.contains_key(**m)) {
        return Err(Error::InvalidClientMetadata(
            format!("{member}: only the server sets it; leave it out").into(),
        ));
    }
    if let Some(sent) = members.get("client_secret") {
        let matches = sent
            .as_str()
            .zip(old.secret_hash.as_ref())
            .is_some_and(|(s, h)| TokenHash::of(s).ct_eq(h));
        if !matches {
            return Err(Error::InvalidClientMetadata(
                "client_secret: it is not this client's secret".into(),
            ));
        }
    }
    Ok(())
}

/// `DELETE /oauth/register/{client_id}` (RFC 7592 §2.3): the client goes, with its codes, tokens
/// and consents.
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = managed(&state, &req, &id).await?;
    state.store.delete_client(&client.id).await.map_err(store_error)?;
    tracing::info!(target: "gatehouse::audit", event = "client.registration_deleted", client_id = %client.id);
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The policy a client registered under. One the operator has since removed is not replaced by
/// another (which could allow more): the client's registration can no longer change.
fn policy_of<'a>(state: &'a AppState, c: &ClientRecord) -> Result<&'a Policy, ApiError> {
    let name = c.registration_policy.as_deref().unwrap_or("default");
    state.config.registration.policy(name).ok_or_else(|| {
        ApiError::client(Error::InvalidClientMetadata(
            format!(
                "this client registered under policy {name}, which this server no longer defines; ask the operator"
            )
            .into(),
        ))
    })
}

/// The client whose registration access token the request carries. An unknown client, an
/// operator's client and a wrong token are answered alike (RFC 7592 §2: 401 `invalid_token`),
/// so the endpoint does not tell which client_ids exist.
async fn managed(state: &AppState, req: &HttpRequest, id: &str) -> Result<ClientRecord, ApiError> {
    let token = bearer(req).ok_or_else(|| {
        ApiError::bearer(Error::InvalidToken(
            "send the registration access token: Authorization: Bearer <registration_access_token>".into(),
        ))
    })?;
    let id = ClientId::parse(id).map_err(|_| ApiError::bearer(unknown()))?;
    let client = state.store.find_client(&id).await.map_err(store_error)?;
    let hash = TokenHash::of(&token);
    match client {
        Some(c) if c.registration_token_hash.as_ref().is_some_and(|h| h.ct_eq(&hash)) => Ok(c),
        _ => Err(ApiError::bearer(unknown())),
    }
}

fn unknown() -> Error {
    Error::InvalidToken(
        "the registration access token is not valid for this client (a replaced registration issues a new one)".into(),
    )
}

fn expired_token() -> Error {
    Error::InvalidToken(
        "the initial access token is unknown, expired or used up; ask the operator for a new one".into(),
    )
}

/// The policy a registration gets: its initial access token's, or in open mode without one,
/// `default`.
async fn policy_for<'a>(state: &'a AppState, token: Option<&str>, now: UnixTime) -> Result<&'a Policy, ApiError> {
    match (state.config.registration.mode, token) {
        (_, Some(token)) => token_policy(state, token, now).await,
        (RegistrationMode::Open, None) => Ok(state.config.registration.default_policy()),
        _ => Err(ApiError::bearer(Error::InvalidToken(
            "this server registers clients only with an initial access token: send Authorization: Bearer <token>"
                .into(),
        ))),
    }
}

/// Uses one of the token's registrations, atomically across instances.
async fn use_token(state: &AppState, token: &str, now: UnixTime) -> Result<(), ApiError> {
    let used = state
        .store
        .use_initial_access_token(&TokenHash::of(token), now)
        .await
        .map_err(store_error)?;
    used.map(|_| ()).ok_or_else(|| ApiError::bearer(expired_token()))
}

/// The policy of a live initial access token, without using it.
async fn token_policy<'a>(
    state: &'a AppState,
    token: &str,
    now: gatehouse_protocol::types::UnixTime,
) -> Result<&'a Policy, ApiError> {
    let name = state
        .store
        .find_initial_access_token(&TokenHash::of(token), now)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::bearer(expired_token()))?;
    state.config.registration.policy(&name).ok_or_else(|| {
        ApiError::client(Error::InvalidClientMetadata(
            format!("the initial access token grants policy {name}, which this server no longer defines").into(),
        ))
    })
}

/// `Authorization: Bearer <token>`, if sent.
fn bearer(req: &HttpRequest) -> Option<String> {
    let h = params::authorization(req)?;
    let (scheme, token) = h.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The request body: a JSON object (RFC 7591 §3.1).
fn json_body(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, Error> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(invalid_request(
            "send the client metadata as Content-Type: application/json",
        ));
    }
    if body.len() > MAX_BODY {
        return Err(invalid_request(format!(
            "the client metadata is larger than {MAX_BODY} bytes"
        )));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(members)) => Ok(members),
        Ok(_) => Err(invalid_request("the body must be a JSON object of client metadata")),
        Err(e) => Err(invalid_request(format!("the body is not valid JSON: {e}"))),
    }
}
