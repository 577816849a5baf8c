//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662): both authenticate
//! the calling client first; the `token_type_hint` only decides which kind is looked up first.

use super::token::authenticate;
use crate::http::error::{ApiError, Challenge, store_error};
use crate::http::params;
use crate::issue::access_token_hash;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::request::client_auth::ClientAuth;
use gatehouse_protocol::request::token_management::{TokenManagementRequest, TokenTypeHint};
use gatehouse_protocol::types::{ClientId, ClientKind, TokenHash};
use gatehouse_storage::ClientRecord;
use serde_json::{Map, Value, json};

async fn authenticated(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(ClientRecord, TokenManagementRequest), Error> {
    let params = params::form(req, body)?;
    params.reject_repeats()?;
    let auth = ClientAuth::parse(params::authorization(req), &params)?;
    let client = authenticate(state, req, &auth).await?;
    Ok((client, TokenManagementRequest::parse(&params)?))
}

/// `POST /oauth/revoke`. Revoking a refresh token revokes its family and the access tokens issued
/// from it; revoking an access token leaves the refresh token alone. Unknown tokens and tokens of
/// other clients get 200 too, and nothing changes (RFC 7009 §2.1, §2.2).
pub async fn revoke(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    revoke_inner(&state, &req, &body)
        .await
        .map_err(|e| ApiError::at("revoke", e, Challenge::Basic))
}

async fn revoke_inner(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, Error> {
    let (client, request) = authenticated(state, req, body).await?;
    let token = request.token.expose();
    let now = state.clock.now();
    let access = access_token_hash(state, token);
    let refresh = TokenHash::of(token);
    // The hint picks which kind is tried first; both are tried (RFC 7009 §2.1: not trusted).
    let refresh_first = request.hint == Some(TokenTypeHint::RefreshToken);
    let mut revoked = false;
    for refresh_turn in [refresh_first, !refresh_first] {
        revoked = if refresh_turn {
            state
                .store
                .revoke_refresh_token(&refresh, &client.id, now)
                .await
                .map_err(store_error)?
        } else if let Some(h) = &access {
            state
                .store
                .revoke_access_token(h, &client.id, now)
                .await
                .map_err(store_error)?
        } else {
            false
        };
        if revoked {
            break;
        }
    }
    if revoked {
        crate::metrics::METRICS
            .family_revocations
            .with_label_values(&["revoked"])
            .inc();
        tracing::info!(target: "gatehouse::audit", event = "token.revoked", client_id = %client.id);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// `POST /oauth/introspect`. Only confidential clients may introspect. RFC 7662 §4 asks the
/// server to decide who may learn about which token: a token is described (`active: true`) only to
/// the client it was issued to, or to a client registered with `--introspect` (a resource server)
/// whose `client_id` or one of whose resources is in the token's audience; refresh tokens only to
/// their own client. Everything else, like anything not live, is `{"active": false}` (§2.2).
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (client, request) = authenticated(&state, &req, &body).await?;
    if client.auth_method.kind() == ClientKind::Public {
        return Err(ApiError::client(Error::InvalidClient(
            "introspection needs a confidential client (one with a secret); register the resource server with gatehouse client create --introspect".into(),
        )));
    }
    let token = request.token.expose();
    let now = state.clock.now();
    let by_refresh_first = request.hint == Some(TokenTypeHint::RefreshToken);
    let mut answer = None;
    for kind in if by_refresh_first { [1, 0] } else { [0, 1] } {
        answer = if kind == 0 {
            describe_access(&state, &client, token, now).await
        } else {
            describe_refresh(&state, &client, token, now).await
        }
        .map_err(store_error)?;
        if answer.is_some() {
            break;
        }
    }
    let body = answer.unwrap_or_else(|| json!({ "active": false }));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// The username of a subject whose account is live; `Err(())` when the account is locked or gone,
/// which makes its tokens inactive.
async fn live_username(
    state: &AppState,
    sub: Option<&str>,
) -> Result<Result<Option<String>, ()>, gatehouse_storage::StoreError> {
    match sub {
        Some(s) => Ok(match state.store.find_user(s).await? {
            Some(u) if !u.locked => Ok(Some(u.username)),
            _ => Err(()),
        }),
        None => Ok(Ok(None)),
    }
}

fn audience(aud: &[String], client_id: &str) -> Value {
    match aud {
        [] => json!(client_id),
        [one] => json!(one),
        many => json!(many),
    }
}

/// Whether `caller` may learn about an access token of `owner` with audience `aud`.
fn may_describe(caller: &ClientRecord, owner: &ClientId, aud: &[String]) -> bool {
    if caller.id == *owner {
        return true;
    }
    let in_audience = |identity: &str| {
        if aud.is_empty() {
            identity == owner.as_str()
        } else {
            aud.iter().any(|a| a == identity)
        }
    };
    caller.introspect && (in_audience(caller.id.as_str()) || caller.resources.iter().any(|r| in_audience(r)))
}

async fn describe_access(
    state: &AppState,
    caller: &ClientRecord,
    token: &str,
    now: gatehouse_protocol::types::UnixTime,
) -> Result<Option<Value>, gatehouse_storage::StoreError> {
    let Some(hash) = access_token_hash(state, token) else {
        return Ok(None);
    };
    let Some(t) = state.store.find_access_token(&hash, now).await? else {
        return Ok(None);
    };
    if !may_describe(caller, &t.client_id, &t.audience) {
        return Ok(None);
    }
    let Ok(username) = live_username(state, t.subject.as_deref()).await? else {
        return Ok(None);
    };
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    out.insert("client_id".into(), json!(t.client_id.as_str()));
    out.insert("scope".into(), json!(t.scope.to_param()));
    out.insert(
        "sub".into(),
        json!(t.subject.as_deref().unwrap_or(t.client_id.as_str())),
    );
    out.insert("exp".into(), json!(t.expires_at.0));
    out.insert("iat".into(), json!(t.issued_at.0));
    out.insert("iss".into(), json!(state.issuer));
    out.insert("aud".into(), audience(&t.audience, t.client_id.as_str()));
    out.insert("token_type".into(), json!("Bearer"));
    if let Some(a) = t.auth_time {
        out.insert("auth_time".into(), json!(a.0));
    }
    if let Some(name) = username {
        out.insert("username".into(), json!(name));
    }
    Ok(Some(Value::Object(out)))
}

async fn describe_refresh(
    state: &AppState,
    caller: &ClientRecord,
    token: &str,
    now: gatehouse_protocol::types::UnixTime,
) -> Result<Option<Value>, gatehouse_storage::StoreError> {
    let Some(t) = state.store.find_refresh_token(&TokenHash::of(token), now).await? else {
        return Ok(None);
    };
    // A refresh token is a credential of one client: nobody else learns anything about it.
    if t.client_id != caller.id {
        return Ok(None);
    }
    let Ok(username) = live_username(state, Some(&t.subject)).await? else {
        return Ok(None);
    };
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    out.insert("client_id".into(), json!(t.client_id.as_str()));
    out.insert("scope".into(), json!(t.scope.to_param()));
    out.insert("sub".into(), json!(t.subject));
    out.insert("exp".into(), json!(t.expires_at.0.min(t.family_expires_at.0)));
    out.insert("iat".into(), json!(t.issued_at.0));
    out.insert("iss".into(), json!(state.issuer));
    out.insert("aud".into(), audience(&t.audience, t.client_id.as_str()));
    out.insert("token_type".into(), json!("refresh_token"));
    if let Some(name) = username {
        out.insert("username".into(), json!(name));
    }
    Ok(Some(Value::Object(out)))
}
