//! The middleware every request passes: a request id (taken from a well-formed `X-Request-Id`,
//! generated otherwise, echoed in the response and on every log line), metrics per route
//! template, the count of every OAuth error answered ([`crate::http::error::count`]), one access
//! log line, and `Strict-Transport-Security` when the issuer is https.

use crate::http::routes::Route;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use std::time::Instant;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a caller's request id only if it is short and plain, so it can go into logs as is.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// See the module documentation.
///
/// # Errors
/// Whatever the inner service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(crate::random::request_id, str::to_owned);
    let method = crate::metrics::method_index(req.method().as_str());
    let app = req.app_data::<web::Data<AppState>>().cloned();
    let id: std::sync::Arc<str> = id.into();
    let refusal = app.as_ref().and_then(|s| plain_http(&req, s));
    let mut res = match refusal {
        Some(refused) => req.into_response(refused).map_into_right_body(),
        None => crate::logging::in_request(id.clone(), next.call(req))
            .await?
            .map_into_left_body(),
    };
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    // The route the resource recorded (see `routes::Route`); a request no resource took (404, or
    // refused above) is matched here, rarely.
    let route = res.request().app_data::<Route>().map(|r| {
        r.metrics.record(method, status, elapsed);
        (r.template, r.endpoint)
    });
    let matched;
    let (template, endpoint) = match route {
        Some(r) => r,
        None => {
            matched = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
            crate::metrics::record_http(&matched, method, status, elapsed);
            (matched.as_str(), crate::http::routes::endpoint(&matched))
        }
    };
    crate::http::error::count(res.response(), endpoint);
    stamp(res.headers_mut(), &id, app.as_ref().map(|s| s.get_ref()));
    crate::logging::access(crate::metrics::METHODS[method], template, status, elapsed, &id);
    Ok(res)
}

/// With an https issuer, a request a trusted proxy forwarded (it says whom for, in
/// `X-Forwarded-For` or `Forwarded`) but received over plain http, or about which it does not say
/// (no `X-Forwarded-Proto: https`), is refused: passwords, codes and tokens must not cross the
/// network in the clear, and a proxy that drops the header is misconfigured. Calls that did not
/// pass a proxy (a service on the proxy's host, say), and health probes, are let through.
fn plain_http(req: &ServiceRequest, state: &AppState) -> Option<actix_web::HttpResponse> {
    let headers = req.headers();
    let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
    if !state.secure_cookies
        || !forwarded
        || matches!(req.path(), "/health" | "/ready" | "/health/detailed" | "/metrics")
        || !crate::protect::via_trusted_proxy(req.request(), &state.config.trusted_proxies)
    {
        return None;
    }
    // The value the nearest proxy set: the last of a list (chained proxies append).
    let proto = headers
        .get_all("x-forwarded-proto")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .rfind(|v| !v.is_empty());
    if proto.as_deref() == Some("https") {
        return None;
    }
    Some(crate::http::error::plain_http_refused(proto.as_deref()))
}

/// The headers every response carries: the request id, the instance name when set, and HSTS
/// when the issuer is https.
fn stamp(headers: &mut HeaderMap, id: &str, app: Option<&AppState>) {
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, v);
    }
    if let Some(v) = app
        .and_then(|s| s.config.instance_name.as_deref())
        .and_then(|n| HeaderValue::from_str(n).ok())
    {
        headers.insert(HeaderName::from_static("x-gatehouse-instance"), v);
    }
    if app.is_some_and(|s| s.secure_cookies) {
        headers.insert(
            actix_web::http::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}
