//! `GET /assets/gatehouse.css`: the pages' stylesheet, a file so the CSP needs no inline style.

use crate::http::pages::CSS;
use actix_web::HttpResponse;
use actix_web::http::header;

/// `GET /assets/gatehouse.css`.
pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(CSS)
}
