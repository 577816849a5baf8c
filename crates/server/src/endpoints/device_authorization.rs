//! `POST /oauth/device_authorization` (RFC 8628 §3.1, §3.2): a device (a TV, a command-line tool)
//! asks for codes. The client authenticates exactly as at the token endpoint; the decisions are in
//! `gatehouse_protocol::grant::device_code`.

use crate::client_auth::{authenticate_form, registered};
use crate::http::error::{ApiError, store_error};
use crate::metrics::METRICS;
use crate::random::random_token;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::grant::device_code::{self, DeviceAuthorizationRequest, UserCode};
use gatehouse_protocol::types::TokenHash;
use gatehouse_storage::{DeviceRecord, DeviceState, StoreError};
use serde::Serialize;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Serialize)]
struct DeviceAuthorizationResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

/// How often a new user code is drawn when the one drawn is taken (20^8 codes: practically never).
const DRAWS: usize = 4;

/// `POST /oauth/device_authorization`.
pub async fn device_authorization(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    handle(&state, &req, &body).await.map_err(ApiError::client)
}

async fn handle(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, Error> {
    let now = state.clock.now();
    let (client, params) = authenticate_form(state, req, body).await?;
    let request = DeviceAuthorizationRequest::parse(&params)?;
    let grant = device_code::authorize(&registered(&client), request)?;
    let device_code = random_token();
    let address = crate::protect::client_ip(req, &state.config.trusted_proxies).map(|ip| ip.to_string());
    let ttl = state.config.device_code_ttl.as_secs();
    let interval = state.config.device_poll_interval.as_secs();
    for _ in 0..DRAWS {
        let user_code = crate::random::user_code();
        let record = DeviceRecord {
            hash: TokenHash::of(&device_code),
            user_code: user_code.clone(),
            client_id: client.id.clone(),
            scope: grant.scope.clone(),
            resources: grant.resources.clone(),
            created_at: now,
            expires_at: now.plus(ttl),
            interval: i64::try_from(interval).unwrap_or(i64::MAX),
            state: DeviceState::Pending,
            subject: None,
            auth_time: None,
            requested_from: address.clone(),
        };
        match state.store.put_device(&record).await {
            Ok(()) => {
                METRICS.device.with_label_values(&["requested"]).inc();
                tracing::info!(target: "gatehouse::audit", event = "device.requested", client_id = %client.id);
                return Ok(respond(state, device_code, &user_code, ttl, interval));
            }
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Server("every user code drawn was taken".into()))
}

fn respond(state: &AppState, device_code: String, user_code: &UserCode, ttl: u64, interval: u64) -> HttpResponse {
    let shown = user_code.display();
    let verification_uri = format!("{}/device", state.issuer);
    let body = DeviceAuthorizationResponse {
        device_code,
        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
        user_code: shown,
        verification_uri,
        expires_in: ttl,
        interval,
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
