//! Health that tells the truth: `/health` (the process serves), `/ready` (the store answers and no
//! migration is pending), and `/health/detailed` (per dependency, with figures).

use crate::http::error::unhealthy;
use crate::http::operator::{self, OperatorListener};
use crate::probe::StoreCheck;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_storage::PoolStatus;
use serde_json::json;
use std::time::Duration;

/// `GET /health`: liveness. 200 while the process can serve.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "status": "ok" }))
}

/// `GET /ready`: 200 only when the store answers and no migration is pending; else 503 and why.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let check = state.health.check(state.store.as_ref(), &state.config).await;
    let reason = check.error.or_else(|| {
        (!check.pending.is_empty()).then(|| {
            format!(
                "migrations pending: {}; run gatehouse migrate",
                check.pending.join(", ")
            )
        })
    });
    match reason {
        None => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({ "status": "ready" })),
        Some(reason) => unhealthy(&json!({ "status": "unavailable", "reason": reason })),
    }
}

/// `GET /health/detailed`: `healthy`, `degraded` (serving, but something needs attention) or
/// `unhealthy` (503), with the figures behind the verdict. No secrets.
pub async fn detailed(
    req: HttpRequest,
    state: web::Data<AppState>,
    listener: Option<web::Data<OperatorListener>>,
) -> HttpResponse {
    if let Some(refused) = operator::refuse(&req, &state.config, listener.is_some(), "/health/detailed") {
        return refused;
    }
    let check = state.health.check(state.store.as_ref(), &state.config).await;
    // The host's real clock to the millisecond, not the injectable one: this measures the
    // database's clock against this host's.
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let skew_ms = check.db_time.map(|t| ((system - t) * 1000.0).round());
    let pool = state.store.pool_status();
    let findings = Findings::of(&check, pool, skew_ms, state.config.database.is_some());
    let status = findings.verdict();
    let mut body = report(&state, &check, pool);
    body["status"] = json!(status);
    body["problems"] = json!(findings.problems);
    body["warnings"] = json!(findings.warnings);
    body["notices"] = json!(findings.notices);
    body["checks"] = json!(findings.checks);
    body["clock"] = json!({ "system_time": system, "database_time": check.db_time, "skew_ms": skew_ms });
    if status == "unhealthy" {
        return unhealthy(&body);
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// What `/health/detailed` found: problems make it unhealthy, warnings degraded; notices are said
/// but change nothing. Each problem and warning is also a check named as `gatehouse doctor` names
/// it, with the same fix.
struct Findings {
    problems: Vec<String>,
    warnings: Vec<String>,
    notices: Vec<&'static str>,
    checks: Vec<serde_json::Value>,
}

fn check(id: &str, status: &str, summary: &str, fix: &str) -> serde_json::Value {
    json!({ "id": id, "status": status, "summary": summary, "fix": fix })
}

impl Findings {
    fn of(probe: &StoreCheck, pool: Option<PoolStatus>, skew_ms: Option<f64>, postgres: bool) -> Self {
        use crate::doctor::fixes;
        let mut checks = Vec::new();
        let mut problems: Vec<String> = probe.error.iter().cloned().collect();
        if let Some(e) = &probe.error {
            let fix = if postgres {
                fixes::POSTGRES_UNREACHABLE
            } else {
                fixes::SQLITE_UNREACHABLE
            };
            checks.push(check("store.reachable", "fail", e, fix));
        }
        if !probe.pending.is_empty() {
            let text = format!("migrations pending: {}", probe.pending.join(", "));
            checks.push(check("store.migrations", "fail", &text, fixes::MIGRATE));
            problems.push(text);
        }
        let mut warnings: Vec<String> = Vec::new();
        if probe.latency > Duration::from_millis(500) {
            let text = format!("store round trip took {} ms", probe.latency.as_millis());
            checks.push(check("store.latency", "warn", &text, fixes::LATENCY));
            warnings.push(text);
        }
        if pool.is_some_and(|p| p.in_use >= p.max) {
            let text = "every database connection is in use";
            checks.push(check("store.connections", "warn", text, fixes::POOL));
            warnings.push(format!("{text}; {}", fixes::POOL));
        }
        if skew_ms.is_some_and(|s| s.abs() > 5000.0) {
            let text = "the clocks of this server and the database differ by more than 5 s; tokens may look expired or not yet valid";
            checks.push(check("store.clock", "warn", text, fixes::CLOCK));
            warnings.push(text.into());
        }
        Self {
            problems,
            warnings,
            notices: notices(pool),
            checks,
        }
    }

    fn verdict(&self) -> &'static str {
        if !self.problems.is_empty() {
            "unhealthy"
        } else if !self.warnings.is_empty() {
            "degraded"
        } else {
            "healthy"
        }
    }
}

/// What is said but is not a degradation: the server works either way.
fn notices(pool: Option<PoolStatus>) -> Vec<&'static str> {
    [
        crate::seal::kek().is_none().then_some(
            "signing keys and server secrets are stored unencrypted; set GATEHOUSE_SECRET_KEY to encrypt them at rest",
        ),
        pool.is_some_and(|p| !p.caches_live).then_some(
            "client records and revocations are read from the database on every request: the cache listener does not hear its heartbeat (starting, reconnecting, or behind PgBouncer in transaction mode, where notifications never arrive: use session mode or connect directly)",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The figures of `/health/detailed` (the caller adds the verdict and the clock).
fn report(state: &AppState, check: &StoreCheck, pool: Option<PoolStatus>) -> serde_json::Value {
    let ring = state.keys();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("GATEHOUSE_GIT_COMMIT"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "store": {
            "kind": state.store.kind(),
            "reachable": check.reachable,
            "latency_ms": (check.latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
            "pool": pool.map(|p| json!({ "size": p.size, "in_use": p.in_use, "idle": p.idle, "max": p.max, "caches_live": p.caches_live })),
            "migrations": { "applied": check.applied, "pending": check.pending },
        },
        "encryption_at_rest": {
            "encrypted": crate::seal::kek().is_some(),
            "key_id": crate::seal::kek().map(crate::seal::Kek::id_hex),
        },
        "signing_keys": {
            "active": ring.active_kids(),
            "count": ring.kids().len(),
            "next_change": ring.next_change().map(|t| t.0),
            "automatic_rotation_seconds": state.config.key_rotation_interval.map(|d| d.as_secs()),
        },
    })
}
