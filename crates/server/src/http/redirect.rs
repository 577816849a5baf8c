//! Redirects: the 303 every browser flow step answers with, and query building for redirect URIs.

use actix_web::HttpResponse;
use actix_web::http::header;

/// A 303 redirect, never cached.
#[must_use]
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `uri` with `pairs` appended to its query, keeping any query it has (RFC 6749 §3.1.2).
#[must_use]
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}
