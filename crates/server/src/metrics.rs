//! Prometheus metrics (`/metrics`). Every label takes a small, fixed set of values: route
//! templates, methods, status classes, grant types, RFC error codes, results. Never usernames,
//! client ids, token values or raw paths.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;

/// All of Gatehouse's metrics.
pub struct Metrics {
    registry: Registry,
    /// `gatehouse_http_requests_total{route,method,status_class}`.
    pub http_requests: IntCounterVec,
    /// `gatehouse_http_request_duration_seconds{route,method}`.
    pub http_duration: HistogramVec,
    /// `gatehouse_tokens_issued_total{grant_type}`.
    pub tokens_issued: IntCounterVec,
    /// `gatehouse_oauth_errors_total{endpoint,error}`.
    pub oauth_errors: IntCounterVec,
    /// `gatehouse_oauth_error_causes_total{endpoint,error,cause}`.
    pub oauth_error_causes: IntCounterVec,
    /// `gatehouse_logins_total{result}`.
    pub logins: IntCounterVec,
    /// `gatehouse_lockouts_total`.
    pub lockouts: IntCounter,
    /// `gatehouse_rate_limited_total{limiter}`.
    pub rate_limited: IntCounterVec,
    /// `gatehouse_refresh_family_revocations_total{reason}`.
    pub family_revocations: IntCounterVec,
    /// `gatehouse_db_pool_connections{state}`: size, in_use, idle, max.
    pub pool_connections: IntGaugeVec,
    /// `gatehouse_db_pool_wait_seconds`: time spent waiting for a pooled connection.
    pub pool_wait: Histogram,
    /// `gatehouse_store_errors_total{kind}`.
    pub store_errors: IntCounterVec,
    /// `gatehouse_cleanup_deleted_total{kind}`.
    pub cleanup_deleted: IntCounterVec,
    /// `gatehouse_logouts_total{initiator}`: browser sessions ended.
    pub logouts: IntCounterVec,
    /// `gatehouse_backchannel_logout_total{result}`: back-channel logout delivery attempts.
    pub backchannel: IntCounterVec,
    /// `gatehouse_device_authorizations_total{result}`.
    pub device: IntCounterVec,
    /// `gatehouse_client_jwks_fetches_total{result}`: fetches of clients' `jwks_uri`.
    pub jwks_fetches: IntCounterVec,
    /// `gatehouse_dpop_proofs_refused_total{reason}`.
    pub dpop_refused: IntCounterVec,
    /// `gatehouse_signing_keys{alg,state}`.
    pub signing_keys: IntGaugeVec,
    /// `gatehouse_build_info{version,git_commit}` = 1.
    pub build_info: IntGaugeVec,
    /// `gatehouse_uptime_seconds` is derived from `process_start_time_seconds`; this marks start.
    pub started: IntGauge,
    /// `gatehouse_db_caches_live`: 1 while PostgreSQL's caches are used (see `PoolStatus`).
    pub caches_live: IntGauge,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("unique metric");
    g
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process collector");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "gatehouse_http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("unique metric");
        let pool_wait = Histogram::with_opts(
            HistogramOpts::new(
                "gatehouse_db_pool_wait_seconds",
                "time spent waiting for a database connection",
            )
            .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )
        .expect("valid metric");
        registry.register(Box::new(pool_wait.clone())).expect("unique metric");
        let lockouts = IntCounter::new(
            "gatehouse_lockouts_total",
            "accounts locked after repeated failed logins",
        )
        .expect("valid metric");
        registry.register(Box::new(lockouts.clone())).expect("unique metric");
        let started = IntGauge::new(
            "gatehouse_start_time_seconds",
            "when this process started serving, Unix seconds",
        )
        .expect("valid metric");
        registry.register(Box::new(started.clone())).expect("unique metric");
        let caches_live = IntGauge::new(
            "gatehouse_db_caches_live",
            "1 while client records and revocations are cached (the PostgreSQL cache listener hears its heartbeat), 0 while every request reads the database",
        )
        .expect("valid metric");
        registry.register(Box::new(caches_live.clone())).expect("unique metric");
        let m = Self {
            http_requests: counter(
                &registry,
                "gatehouse_http_requests_total",
                "HTTP requests by route template, method and status class",
                &["route", "method", "status_class"],
            ),
            http_duration,
            logouts: counter(
                &registry,
                "gatehouse_logouts_total",
                "browser sessions ended, by who ended them (rp, user, operator, user_locked, password_changed, sessions_revoked, signed_in_as_other, user_deleted)",
                &["initiator"],
            ),
            backchannel: counter(
                &registry,
                "gatehouse_backchannel_logout_total",
                "back-channel logout delivery attempts by result (delivered, failed: retried later, rejected: the client answered 4xx, refused: destination not allowed, gave_up: out of attempts)",
                &["result"],
            ),
            dpop_refused: counter(
                &registry,
                "gatehouse_dpop_proofs_refused_total",
                "DPoP proofs refused by reason (missing, repeated, malformed, typ, alg, key, signature, jti, htm, htu, iat, ath, replay, nonce, binding)",
                &["reason"],
            ),
            jwks_fetches: counter(
                &registry,
                "gatehouse_client_jwks_fetches_total",
                "fetches of clients' jwks_uri by result (ok, failed)",
                &["result"],
            ),
            device: counter(
                &registry,
                "gatehouse_device_authorizations_total",
                "device authorization grant events (RFC 8628) by result: requested, approved, denied, redeemed, wrong_code, authorization_pending, slow_down, access_denied, expired_token",
                &["result"],
            ),
            tokens_issued: counter(
                &registry,
                "gatehouse_tokens_issued_total",
                "token responses issued by grant type",
                &["grant_type"],
            ),
            oauth_errors: counter(
                &registry,
                "gatehouse_oauth_errors_total",
                "OAuth error responses by endpoint and RFC error code",
                &["endpoint", "error"],
            ),
            oauth_error_causes: counter(
                &registry,
                "gatehouse_oauth_error_causes_total",
                "OAuth error responses by endpoint, RFC error code and cause (a bounded set: wrong_secret, code_replayed, pkce_mismatch, redirect_uri_mismatch, ...; other)",
                &["endpoint", "error", "cause"],
            ),
            logins: counter(
                &registry,
                "gatehouse_logins_total",
                "login attempts by result",
                &["result"],
            ),
            lockouts,
            rate_limited: counter(
                &registry,
                "gatehouse_rate_limited_total",
                "requests refused with 429 by limiter",
                &["limiter"],
            ),
            family_revocations: counter(
                &registry,
                "gatehouse_refresh_family_revocations_total",
                "refresh-token families revoked, by reason",
                &["reason"],
            ),
            pool_connections: gauge(
                &registry,
                "gatehouse_db_pool_connections",
                "database pool connections by state (size, in_use, idle, max)",
                &["state"],
            ),
            pool_wait,
            store_errors: counter(
                &registry,
                "gatehouse_store_errors_total",
                "store failures by kind (unavailable, internal)",
                &["kind"],
            ),
            cleanup_deleted: counter(
                &registry,
                "gatehouse_cleanup_deleted_total",
                "rows deleted by the cleanup task, by kind",
                &["kind"],
            ),
            signing_keys: gauge(
                &registry,
                "gatehouse_signing_keys",
                "signing keys by algorithm and state",
                &["alg", "state"],
            ),
            build_info: gauge(
                &registry,
                "gatehouse_build_info",
                "build information; the value is always 1",
                &["version", "git_commit"],
            ),
            started,
            caches_live,
            registry,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("GATEHOUSE_GIT_COMMIT")])
            .set(1);
        m
    }

    /// The text exposition.
    #[must_use]
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// Counts an OAuth error answered at `endpoint` (a fixed name such as `token`).
pub fn oauth_error(endpoint: &'static str, code: &'static str, cause: Option<&'static str>) {
    METRICS.oauth_errors.with_label_values(&[endpoint, code]).inc();
    if let Some(cause) = cause {
        METRICS
            .oauth_error_causes
            .with_label_values(&[endpoint, code, cause])
            .inc();
    }
}

/// The method labels of the HTTP metrics: the common methods, and `other` for anything a caller
/// invents.
pub const METHODS: [&str; 8] = ["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "other"];
/// The status classes of `gatehouse_http_requests_total`.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index in [`METHODS`] of a request's method.
#[must_use]
pub fn method_index(method: &str) -> usize {
    METHODS[..7].iter().position(|m| *m == method).unwrap_or(7)
}

/// The index in [`STATUS_CLASSES`] of a status.
#[must_use]
pub fn status_class_index(status: u16) -> usize {
    usize::from(status.clamp(100, 599) / 100 - 1)
}

/// Counts a request of a route without [`RouteMetrics`] (no resource took it).
pub fn record_http(route: &str, method: usize, status: u16, elapsed: std::time::Duration) {
    let (method, class) = (METHODS[method.min(7)], STATUS_CLASSES[status_class_index(status)]);
    METRICS.http_requests.with_label_values(&[route, method, class]).inc();
    METRICS
        .http_duration
        .with_label_values(&[route, method])
        .observe(elapsed.as_secs_f64());
}

/// One route's HTTP metrics, with the labelled series looked up once each (a lookup hashes the
/// labels and takes a lock; a request pays it twice otherwise).
pub struct RouteMetrics {
    template: &'static str,
    requests: [[std::sync::OnceLock<IntCounter>; 5]; 8],
    duration: [std::sync::OnceLock<Histogram>; 8],
}

impl RouteMetrics {
    #[must_use]
    pub const fn new(template: &'static str) -> Self {
        Self {
            template,
            requests: [const { [const { std::sync::OnceLock::new() }; 5] }; 8],
            duration: [const { std::sync::OnceLock::new() }; 8],
        }
    }

    /// Counts a request answered with `status` after `elapsed`.
    pub fn record(&self, method: usize, status: u16, elapsed: std::time::Duration) {
        let (method, class) = (method.min(7), status_class_index(status));
        self.requests[method][class]
            .get_or_init(|| {
                METRICS
                    .http_requests
                    .with_label_values(&[self.template, METHODS[method], STATUS_CLASSES[class]])
            })
            .inc();
        self.duration[method]
            .get_or_init(|| {
                METRICS
                    .http_duration
                    .with_label_values(&[self.template, METHODS[method]])
            })
            .observe(elapsed.as_secs_f64());
    }
}
