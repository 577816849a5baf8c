//! `POST /oauth/revoke` (RFC 7009): authenticate the calling client, then revoke the token if it
//! is that client's; the `token_type_hint` only decides which kind is looked up first.

use crate::client_auth::authenticate_form;
use crate::http::error::{ApiError, store_error};
use crate::issue::revoke_access_token;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::request::revocation::{RevocationRequest, TokenTypeHint};
use gatehouse_protocol::types::TokenHash;

/// `POST /oauth/revoke`. Revoking a refresh token revokes its family and the access tokens issued
/// from it; revoking an access token leaves the refresh token alone. Unknown tokens and tokens of
/// other clients get 200 too, and nothing changes (RFC 7009 §2.1, §2.2).
pub async fn revoke(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    handle(&state, &req, &body).await.map_err(ApiError::client)
}

async fn handle(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, Error> {
    let now = state.clock.now();
    let (client, params) = authenticate_form(state, req, body).await?;
    let request = RevocationRequest::parse(&params)?;
    let token = request.token.expose();
    // Both kinds are tried, the hinted one first (RFC 7009 §2.1: the hint is not trusted).
    let mut revoked = false;
    for kind in request.search_order() {
        revoked = match kind {
            TokenTypeHint::RefreshToken => state
                .store
                .revoke_refresh_token(&TokenHash::of(token), &client.id, now)
                .await
                .map_err(store_error)?,
            TokenTypeHint::AccessToken => revoke_access_token(state, &client.id, token, now)
                .await
                .map_err(store_error)?,
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
