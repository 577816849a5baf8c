//! Discovery (OIDC Discovery §4, RFC 8414 §3): the provider metadata, serialised once at start
//! and served from memory.

use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.discovery.clone())
}
