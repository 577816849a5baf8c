//! Who may read the operator endpoints (`/health/detailed`, `/metrics`): internals such as
//! versions, key ids and store figures are not for the public.

use crate::config::Config;
use crate::http::error::address_refused;
use actix_web::{HttpRequest, HttpResponse};

/// Marks the operator listener (`GATEHOUSE_METRICS_BIND`): everything on it is for the operator.
pub struct OperatorListener;

/// Internals (versions, key ids, store figures, metrics) are answered on the operator listener, or
/// on the main one to client addresses in `GATEHOUSE_METRICS_ALLOW` (loopback and private ranges
/// by default); anyone else gets [`address_refused`]. The address is the client's behind trusted
/// proxies, so a public client that reaches the server through nginx is refused even though nginx
/// itself is on loopback.
#[must_use]
pub fn refuse(req: &HttpRequest, config: &Config, on_operator_listener: bool, what: &str) -> Option<HttpResponse> {
    if on_operator_listener {
        return None;
    }
    let client = crate::protect::client_ip(req, &config.trusted_proxies);
    let allowed = client.is_some_and(|ip| config.metrics_allow.iter().any(|n| n.contains(&ip)));
    (!allowed).then(|| address_refused(what))
}
