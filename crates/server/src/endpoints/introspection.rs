//! `POST /oauth/introspect` (RFC 7662): authenticate the calling client, then describe the token
//! if that client may learn about it; the `token_type_hint` only decides which kind is looked up
//! first.

use crate::client_auth::authenticate_form;
use crate::http::error::{ApiError, store_error};
use crate::issue::{Audience, find_access_token};
use crate::state::AppState;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::request::revocation::{IntrospectionRequest, TokenTypeHint};
use gatehouse_protocol::types::{ClientId, ClientKind, TokenHash, UnixTime};
use gatehouse_storage::{ClientRecord, StoreError};
use serde::Serialize;

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
    let body = handle(&state, &req, &body).await.map_err(ApiError::client)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(ContentType::json())
        .body(body))
}

async fn handle(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<Vec<u8>, Error> {
    let now = state.clock.now();
    let (client, params) = authenticate_form(state, req, body).await?;
    let request = IntrospectionRequest::parse(&params)?;
    if client.auth_method.kind() == ClientKind::Public {
        return Err(Error::InvalidClient(
            "introspection needs a confidential client (one with a secret); register the resource server with gatehouse client create --introspect".into(),
        ));
    }
    let token = request.token.expose();
    for kind in request.search_order() {
        let answer = match kind {
            TokenTypeHint::AccessToken => describe_access(state, &client, token, now).await,
            TokenTypeHint::RefreshToken => describe_refresh(state, &client, token, now).await,
        }
        .map_err(store_error)?;
        if let Some(body) = answer {
            return Ok(body);
        }
    }
    Ok(br#"{"active":false}"#.to_vec())
}

/// An active token's description (RFC 7662 §2.2). Fields are in name order, the order they had
/// when built as a JSON map, so responses are byte-for-byte what they were.
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    aud: Audience<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    client_id: &'a str,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to, for the resource server to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<serde_json::Value>,
    exp: i64,
    iat: i64,
    iss: &'a str,
    scope: String,
    sub: &'a str,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
}

impl Active<'_> {
    fn to_vec(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::Internal(e.to_string()))
    }
}

/// The username of a subject whose account is live; `Err(())` when the account is locked or gone,
/// which makes its tokens inactive.
async fn live_username(state: &AppState, sub: Option<&str>) -> Result<Result<Option<String>, ()>, StoreError> {
    match sub {
        Some(s) => Ok(match state.store.find_user(s).await? {
            Some(u) if !u.locked => Ok(Some(u.username)),
            _ => Err(()),
        }),
        None => Ok(Ok(None)),
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
    now: UnixTime,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(t) = find_access_token(state, token, now).await? else {
        return Ok(None);
    };
    if !may_describe(caller, &t.client_id, &t.audience) {
        return Ok(None);
    }
    let Ok(username) = live_username(state, t.subject.as_deref()).await? else {
        return Ok(None);
    };
    let client_id = t.client_id.as_str();
    Active {
        active: true,
        aud: Audience::of(&t.audience, client_id),
        auth_time: t.auth_time.map(|a| a.0),
        client_id,
        cnf: t.dpop_jkt.as_deref().map(|jkt| serde_json::json!({ "jkt": jkt })),
        exp: t.expires_at.0,
        iat: t.issued_at.0,
        iss: &state.issuer,
        scope: t.scope.to_param(),
        sub: t.subject.as_deref().unwrap_or(client_id),
        token_type: if t.dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
        username,
    }
    .to_vec()
    .map(Some)
}

async fn describe_refresh(
    state: &AppState,
    caller: &ClientRecord,
    token: &str,
    now: UnixTime,
) -> Result<Option<Vec<u8>>, StoreError> {
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
    let client_id = t.client_id.as_str();
    Active {
        active: true,
        aud: Audience::of(&t.audience, client_id),
        auth_time: None,
        client_id,
        cnf: t.dpop_jkt.as_deref().map(|jkt| serde_json::json!({ "jkt": jkt })),
        exp: t.expires_at.0.min(t.family_expires_at.0),
        iat: t.issued_at.0,
        iss: &state.issuer,
        scope: t.scope.to_param(),
        sub: &t.subject,
        token_type: "refresh_token",
        username,
    }
    .to_vec()
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_active_description_serialises_as_the_json_map_did() {
        let aud = ["https://api.example".to_owned()];
        let active = Active {
            active: true,
            aud: Audience::of(&aud, "app"),
            auth_time: Some(5),
            client_id: "app",
            cnf: None,
            exp: 160,
            iat: 100,
            iss: "https://issuer.example",
            scope: "openid".into(),
            sub: "u1",
            token_type: "Bearer",
            username: Some("alice".into()),
        };
        let mut map = serde_json::Map::new();
        map.insert("active".into(), json!(true));
        map.insert("client_id".into(), json!("app"));
        map.insert("scope".into(), json!("openid"));
        map.insert("sub".into(), json!("u1"));
        map.insert("exp".into(), json!(160));
        map.insert("iat".into(), json!(100));
        map.insert("iss".into(), json!("https://issuer.example"));
        map.insert("aud".into(), json!("https://api.example"));
        map.insert("token_type".into(), json!("Bearer"));
        map.insert("auth_time".into(), json!(5));
        map.insert("username".into(), json!("alice"));
        assert_eq!(active.to_vec().unwrap(), serde_json::to_vec(&map).unwrap());
        let inactive = serde_json::to_vec(&json!({ "active": false })).unwrap();
        assert_eq!(inactive, br#"{"active":false}"#);
    }
}
