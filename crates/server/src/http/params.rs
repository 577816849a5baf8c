//! Reading [`Params`] from a query string or an `application/x-www-form-urlencoded` body.

use actix_web::HttpRequest;
use actix_web::http::header;
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::request::Params;

/// Largest form body accepted by any endpoint (64 KiB); larger bodies get 413.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Parameters from the query string.
///
/// # Errors
/// `invalid_request` for malformed, non-UTF-8 or oversized parameters.
pub fn query(req: &HttpRequest) -> Result<Params, Error> {
    Params::parse(req.query_string().as_bytes())
}

/// Parameters from a form body; the content type must say so (RFC 6749 §4.1.3).
///
/// # Errors
/// `invalid_request` for another content type or malformed parameters.
pub fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, Error> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(invalid_request(
            "the request body must be application/x-www-form-urlencoded (set the Content-Type header)",
        ));
    }
    Params::parse(body)
}

/// The `Authorization` header as text, if present.
#[must_use]
pub fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}
