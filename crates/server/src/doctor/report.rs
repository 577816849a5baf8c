//! `gatehouse doctor report`: a diagnostics bundle to attach to a support request, as one JSON
//! document on stdout: version and build, every setting with its source (secrets redacted), the
//! doctor's findings, the running instance's `/health/detailed`, and the counters that tell
//! what has been happening (errors by code, store errors, pool waits, lockouts, rate limiting,
//! sign-ins, tokens, logouts). It holds no secret, password, token or personal data: settings pass
//! through [`crate::config::redact`], and the metrics carry no user or token labels.

use super::Finding;
use crate::config::settings::SETTINGS;
use crate::config::{Config, Sources, redact};
use serde_json::{Value, json};

/// Metric families copied into the bundle.
const METRICS: &[&str] = &[
    "gatehouse_oauth_errors_total",
    "gatehouse_oauth_error_causes_total",
    "gatehouse_store_errors_total",
    "gatehouse_db_pool_wait_seconds_count",
    "gatehouse_db_pool_connections",
    "gatehouse_lockouts_total",
    "gatehouse_rate_limited_total",
    "gatehouse_logins_total",
    "gatehouse_tokens_issued_total",
    "gatehouse_logouts_total",
    "gatehouse_refresh_family_revocations_total",
    "gatehouse_http_requests_total",
    "gatehouse_build_info",
];

/// Every setting with its effective value (redacted) and where it came from.
#[must_use]
pub fn settings(sources: &Sources) -> Vec<Value> {
    SETTINGS
        .iter()
        .filter(|s| s.name != "GATEHOUSE_CONFIG")
        .map(|s| {
            let (value, source) = sources.get(s.name).map_or_else(
                || (s.shown_default().to_owned(), "default".to_owned()),
                |(v, src)| (redact(s.name, &v), src),
            );
            json!({ "setting": s.name, "value": value, "source": source })
        })
        .collect()
}

/// The bundle.
pub async fn build(config: &Config, sources: &Sources, findings: &[Finding]) -> Value {
    let local = match config.metrics_bind {
        Some(addr) => format!("http://{}", loopback(addr)),
        None => format!("http://{}", loopback(config.bind)),
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let health = match http.get(format!("{local}/health/detailed")).send().await {
        Ok(r) => r
            .json::<Value>()
            .await
            .unwrap_or_else(|e| json!({ "unavailable": e.to_string() })),
        Err(e) => json!({ "unavailable": format!("no instance answered at {local}: {e}") }),
    };
    let metrics = match http.get(format!("{local}/metrics")).send().await {
        Ok(r) => {
            let text = r.text().await.unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with('#') && METRICS.iter().any(|m| l.starts_with(m)))
                .collect();
            json!(lines)
        }
        Err(e) => json!({ "unavailable": format!("no instance answered at {local}: {e}") }),
    };
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("GATEHOUSE_GIT_COMMIT"),
        "generated_at": crate::clock::system_now().0,
        "store": if config.database.is_some() { "postgres" } else { "sqlite" },
        "settings": settings(sources),
        "doctor": findings,
        "health_detailed": health,
        "metrics": metrics,
    })
}

/// Where this host reaches a listener bound to `addr`.
fn loopback(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}
