//! The two cookies Gatehouse sets: the browser session (single sign-on) and the browser binding
//! of pending interactions. Both `HttpOnly; SameSite=Lax`, `Secure` when the issuer is https.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

/// Browser session cookie.
pub const SESSION: &str = "gatehouse_session";
/// Binds interactions (login/consent in progress) to the browser that started them.
pub const BROWSER: &str = "gatehouse_browser";

/// Builds a cookie with Gatehouse's attributes.
#[must_use]
pub fn build(name: &'static str, value: String, max_age_secs: i64, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(Duration::seconds(max_age_secs))
        .finish()
}

/// A cookie's value.
#[must_use]
pub fn value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}
