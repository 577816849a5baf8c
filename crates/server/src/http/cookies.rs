//! The two cookies Gatehouse sets: the browser session (single sign-on) and the browser binding
//! of pending interactions. Both `HttpOnly; SameSite=Lax; Path=/`, without `Domain`. With an https
//! issuer they are `Secure` and carry the `__Host-` prefix, so a sibling subdomain cannot plant a
//! cookie of the same name (cookie tossing: session swap, binding fixation).

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::{HttpRequest, HttpResponse};

/// Which cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The browser session (single sign-on).
    Session,
    /// Binds interactions (login/consent in progress) to the browser that started them.
    Browser,
}

impl Kind {
    /// The cookie's name: `__Host-` prefixed when cookies are `Secure` (https issuer).
    #[must_use]
    pub fn name(self, secure: bool) -> &'static str {
        match (self, secure) {
            (Self::Session, false) => "gatehouse_session",
            (Self::Session, true) => "__Host-gatehouse_session",
            (Self::Browser, false) => "gatehouse_browser",
            (Self::Browser, true) => "__Host-gatehouse_browser",
        }
    }
}

/// Builds a cookie with Gatehouse's attributes.
#[must_use]
pub fn build(kind: Kind, value: String, max_age_secs: i64, secure: bool) -> Cookie<'static> {
    Cookie::build(kind.name(secure), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(Duration::seconds(max_age_secs))
        .finish()
}

/// Sets a cookie with Gatehouse's attributes on `res`, for `ttl`.
pub fn set(res: &mut HttpResponse, kind: Kind, value: String, ttl: std::time::Duration, secure: bool) {
    let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    // Fails only for a value with characters a header cannot carry; ours are base64url.
    let _ = res.add_cookie(&build(kind, value, max_age, secure));
}

/// Sets the session cookie, for `GATEHOUSE_SESSION_TTL`.
pub fn set_session(res: &mut HttpResponse, state: &crate::state::AppState, value: String) {
    set(
        res,
        Kind::Session,
        value,
        state.config.session_ttl,
        state.secure_cookies,
    );
}

/// Sets (or renews) the browser-binding cookie, for `GATEHOUSE_LOGIN_TTL`.
pub fn set_binding(res: &mut HttpResponse, state: &crate::state::AppState, value: String) {
    set(res, Kind::Browser, value, state.config.login_ttl, state.secure_cookies);
}

/// The browser-binding cookie's value, or a fresh one (`true`: it must be set).
#[must_use]
pub fn binding(req: &HttpRequest, secure: bool) -> (String, bool) {
    match value(req, Kind::Browser, secure) {
        Some(v) => (v, false),
        None => (crate::random::random_token(), true),
    }
}

/// Tells the browser to drop a cookie.
pub fn clear(res: &mut HttpResponse, kind: Kind, secure: bool) {
    let _ = res.add_cookie(&build(kind, String::new(), 0, secure));
}

/// A cookie's value.
#[must_use]
pub fn value(req: &HttpRequest, kind: Kind, secure: bool) -> Option<String> {
    req.cookie(kind.name(secure))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}
