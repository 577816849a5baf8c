//! `GET /.well-known/jwks.json` (RFC 7517 §5): the public signing keys, built once per key change
//! and served from memory.

use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

/// `GET /.well-known/jwks.json`: cacheable for less than the key publish delay, so a new key is in
/// every cache before it signs; with an `ETag`, so a revalidation costs a 304.
pub async fn jwks(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let ring = state.keys();
    let cache = format!("public, max-age={}", state.config.jwks_max_age().as_secs());
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == ring.etag()));
    let mut res = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, ring.etag()));
    if matches {
        return res.finish();
    }
    res.content_type("application/jwk-set+json").body(ring.jwks())
}
