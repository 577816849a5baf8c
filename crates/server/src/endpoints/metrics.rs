//! `GET /metrics`: the Prometheus text exposition, for the operator (see [`operator::refuse`]).

use crate::config::Config;
use crate::http::operator::{self, OperatorListener};
use crate::metrics::METRICS;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};

/// `GET /metrics`, on the operator listener or for the addresses in `GATEHOUSE_METRICS_ALLOW`.
pub async fn metrics(
    req: HttpRequest,
    config: web::Data<Config>,
    state: Option<web::Data<AppState>>,
    listener: Option<web::Data<OperatorListener>>,
) -> HttpResponse {
    if let Some(refused) = operator::refuse(&req, &config, listener.is_some(), "/metrics") {
        return refused;
    }
    if let Some(p) = state.as_ref().and_then(|s| s.store.pool_status()) {
        let g = &METRICS.pool_connections;
        g.with_label_values(&["size"])
            .set(i64::try_from(p.size).unwrap_or(i64::MAX));
        g.with_label_values(&["in_use"])
            .set(i64::try_from(p.in_use).unwrap_or(i64::MAX));
        g.with_label_values(&["idle"])
            .set(i64::try_from(p.idle).unwrap_or(i64::MAX));
        g.with_label_values(&["max"])
            .set(i64::try_from(p.max).unwrap_or(i64::MAX));
        METRICS.caches_live.set(i64::from(p.caches_live));
    } else {
        // The embedded store checks its caches on every read: always in use.
        METRICS.caches_live.set(1);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(METRICS.render())
}
