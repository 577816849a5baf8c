//! `gatehouse doctor`: the server diagnoses its own deployment. It reads the same configuration as
//! `serve` and checks the configuration, the store, the keys, the clients and the public face
//! (what relying parties see through the issuer URL), printing one line per check and, for every
//! warning or failure, what is wrong, why it matters and the exact fix.
//!
//! Nothing here changes the deployment: the store is opened without migrating, keys are read, not
//! created, and the data directory's modes are read before anything opens it. (`--flow` creates a
//! probe client and user for the duration of its run and deletes them; see [`flow`].)

use crate::config::Config;
use serde::Serialize;
use std::path::PathBuf;

mod clients;
pub mod flow;
mod flow_http;
mod keys;
mod local;
mod probe;
mod public;
pub mod report;
mod store;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but something needs attention.
    Warn,
    /// Something is broken, or will be.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// A stable identifier (`store.migrations`).
    pub id: &'static str,
    /// The verdict.
    pub status: Status,
    /// One line: what was found.
    pub summary: String,
    /// Why it matters (empty when ok).
    pub detail: String,
    /// The exact fix: a command, a setting, a file mode (empty when ok).
    pub fix: String,
}

impl Finding {
    /// A check that passed.
    #[must_use]
    pub fn ok(id: &'static str, summary: impl Into<String>) -> Self {
        Self {
            id,
            status: Status::Ok,
            summary: summary.into(),
            detail: String::new(),
            fix: String::new(),
        }
    }

    /// A warning.
    #[must_use]
    pub fn warn(
        id: &'static str,
        summary: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            id,
            status: Status::Warn,
            summary: summary.into(),
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    /// A failure.
    #[must_use]
    pub fn fail(
        id: &'static str,
        summary: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            id,
            status: Status::Fail,
            ..Self::warn(id, summary, detail, fix)
        }
    }
}

/// What the checks may need besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How many instances share the database (for the connection budget).
    pub instances: u32,
    /// Certificate authorities to trust when fetching the public URL (a private CA).
    pub ca_file: Option<PathBuf>,
}

/// Runs every check.
pub async fn diagnose(
    config: &Config,
    options: &Options,
) -> (Vec<Finding>, Option<std::sync::Arc<dyn gatehouse_storage::Store>>) {
    let mut out = Vec::new();
    local::check(config, &mut out);
    let store = store::check(config, options, &mut out).await;
    if let Some(store) = &store {
        keys::check(config, store.as_ref(), &mut out).await;
        clients::check(store.as_ref(), &mut out).await;
    }
    public::check(config, store.as_deref(), options, &mut out).await;
    (out, store)
}

/// The exit code: 0 all ok, 1 warnings, 2 failures.
#[must_use]
pub fn exit_code(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.status).max() {
        Some(Status::Fail) => 2,
        Some(Status::Warn) => 1,
        _ => 0,
    }
}

/// The human-readable report: one line per check, then why and the fix under each problem.
#[must_use]
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let tag = match f.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!("{tag}  {:<24} {}\n", f.id, f.summary));
        if f.status != Status::Ok {
            if !f.detail.is_empty() {
                out.push_str(&format!("      why: {}\n", f.detail));
            }
            if !f.fix.is_empty() {
                out.push_str(&format!("      fix: {}\n", f.fix));
            }
        }
    }
    let (warns, fails) = findings.iter().fold((0, 0), |(w, f), x| match x.status {
        Status::Warn => (w + 1, f),
        Status::Fail => (w, f + 1),
        Status::Ok => (w, f),
    });
    out.push_str(&format!(
        "\n{} checks: {} ok, {warns} warning(s), {fails} failure(s)",
        findings.len(),
        findings.len() - warns - fails
    ));
    out
}

/// An HTTP client for the public URL: no redirects, a timeout, the public web PKI plus `ca_file`
/// (and `GATEHOUSE_OUTBOUND_CA_FILE`). Not the outbound client: the issuer is the operator's own
/// address, usually inside the network.
///
/// # Errors
/// An unreadable CA file.
pub fn public_client(config: &Config, options: &Options, cookies: bool) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .cookie_store(cookies)
        .user_agent(concat!("gatehouse-doctor/", env!("CARGO_PKG_VERSION")));
    for file in options.ca_file.iter().chain(config.outbound_ca_file.iter()) {
        let pem = std::fs::read(file).map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", file.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

/// The issuer the configuration gives: `GATEHOUSE_ISSUER`, or what `serve` derives from the
/// bind address.
#[must_use]
pub fn issuer(config: &Config) -> String {
    // Exactly as `serve` derives it (`app.rs`), IPv6 in brackets.
    config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.bind))
}

/// Fix texts `gatehouse doctor` and `/health/detailed` share, so both say the same.
pub mod fixes {
    /// The store's database is down or misnamed (PostgreSQL).
    pub const POSTGRES_UNREACHABLE: &str =
        "start PostgreSQL, or correct DATABASE_URL (host, port, user, database; sslmode=require for TLS)";
    /// The embedded store cannot be opened.
    pub const SQLITE_UNREACHABLE: &str =
        "check that GATEHOUSE_DATA_DIR is this server's data directory and readable by this user";
    /// Migrations are pending.
    pub const MIGRATE: &str = "gatehouse migrate";
    /// Round trips to the store are slow.
    pub const LATENCY: &str = "put the database close to the instances (same zone), or look for load on it";
    /// Every pooled connection is in use.
    pub const POOL: &str = "raise GATEHOUSE_DB_POOL_MAX (within PostgreSQL's max_connections; gatehouse doctor --instances N checks the budget), or find slow queries";
    /// The database's clock is off.
    pub const CLOCK: &str = "run time synchronisation (chrony or systemd-timesyncd) on this host and the database host";
    /// Keys are stored unencrypted.
    pub const ENCRYPT: &str = "set GATEHOUSE_SECRET_KEY_FILE to a mode-600 file made with: openssl rand -base64 32 > /etc/gatehouse/kek; then run gatehouse keys rewrap";
}
