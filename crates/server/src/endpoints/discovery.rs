//! Discovery (OIDC Discovery §4, RFC 8414 §3), JWKS, and the stylesheet: documents built once
//! and served from memory.

use crate::http::pages::CSS;
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

/// `GET /.well-known/jwks.json`.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.keys.jwks().to_vec())
}

/// `GET /assets/gatehouse.css`.
pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(CSS)
}
