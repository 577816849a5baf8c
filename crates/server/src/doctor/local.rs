//! Checks of the configuration and the host, before anything is opened: the issuer and how it
//! agrees with the bind address and proxies, abuse limits, logging, exposure, encryption at rest,
//! and the data directory's modes.

use super::Finding;
use crate::config::Config;

pub(super) fn check(config: &Config, out: &mut Vec<Finding>) {
    out.push(Finding::ok("config.parse", "every setting parses"));
    out.push(issuer(config));
    out.push(proxies(config));
    out.push(limits(config));
    out.push(logging(config));
    out.push(exposure(config));
    out.push(encryption(config));
    if config.database.is_none() {
        out.push(data_dir(config));
    }
}

fn is_public(config: &Config) -> bool {
    config.issuer.as_deref().is_some_and(|i| i.starts_with("https://"))
}

fn issuer(config: &Config) -> Finding {
    const ID: &str = "config.issuer";
    let Some(issuer) = config.issuer.as_deref() else {
        return Finding::warn(
            ID,
            format!(
                "GATEHOUSE_ISSUER is not set; URLs are built from the bind address ({})",
                super::issuer(config)
            ),
            "relying parties compare the issuer string exactly; anything but a local trial needs the public https URL",
            "set GATEHOUSE_ISSUER=https://login.example.com (the URL users and clients reach, no trailing slash)",
        );
    };
    let path = url::Url::parse(issuer).map(|u| u.path().to_owned()).unwrap_or_default();
    if path != "/" && !path.is_empty() {
        return Finding::warn(
            ID,
            format!("the issuer {issuer} has a path ({path})"),
            "discovery is then at {issuer}/.well-known/openid-configuration; the proxy must route the whole path prefix, and some libraries look for it at the host root",
            format!("route {path}/ to Gatehouse in the proxy, or serve Gatehouse at the host root"),
        );
    }
    Finding::ok(ID, format!("issuer {issuer}"))
}

fn proxies(config: &Config) -> Finding {
    const ID: &str = "config.proxy";
    if is_public(config) && config.trusted_proxies.is_empty() {
        return Finding::warn(
            ID,
            "the issuer is https but no proxy is trusted (GATEHOUSE_TRUSTED_PROXIES is empty)",
            "Gatehouse speaks plain http, so a TLS proxy is in front; without trusting it every request seems to come from the proxy's address, and per-address limits (failed logins, registrations) count all users together",
            "set GATEHOUSE_TRUSTED_PROXIES to the proxy's address, e.g. GATEHOUSE_TRUSTED_PROXIES=10.0.0.5",
        );
    }
    Finding::ok(
        ID,
        format!("{} trusted proxy address(es)", config.trusted_proxies.len()),
    )
}

fn limits(config: &Config) -> Finding {
    const ID: &str = "config.limits";
    let off: Vec<&str> = [
        ("GATEHOUSE_LOCKOUT", config.lockout.is_none(), "5/15m"),
        (
            "GATEHOUSE_RATE_LIMIT_LOGIN_FAILURES",
            config.limit_login_failures.is_none(),
            "30/5m",
        ),
        (
            "GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES",
            config.limit_client_auth_failures.is_none(),
            "20/1m",
        ),
    ]
    .iter()
    .filter(|(_, off, _)| *off)
    .map(|(name, _, _)| *name)
    .collect();
    if off.is_empty() {
        return Finding::ok(ID, "account lockout and failure limits are on");
    }
    Finding::warn(
        ID,
        format!("switched off: {}", off.join(", ")),
        "without them passwords and client secrets can be guessed at full speed",
        "remove the setting to get the default (GATEHOUSE_LOCKOUT=5/15m, GATEHOUSE_RATE_LIMIT_LOGIN_FAILURES=30/5m, GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES=20/1m)",
    )
}

fn logging(config: &Config) -> Finding {
    const ID: &str = "config.log";
    let verbose = config.log_filter.contains("debug") || config.log_filter.contains("trace");
    if verbose && is_public(config) {
        return Finding::warn(
            ID,
            format!("GATEHOUSE_LOG={} on a public deployment", config.log_filter),
            "debug logs are large and slow every request; they are for finding a problem, not for running",
            "set GATEHOUSE_LOG=info",
        );
    }
    Finding::ok(ID, format!("log filter {}", config.log_filter))
}

fn exposure(config: &Config) -> Finding {
    const ID: &str = "config.exposure";
    let everyone = config.metrics_allow.iter().any(|n| n.prefix_len() == 0);
    if everyone && config.metrics_bind.is_none() {
        return Finding::warn(
            ID,
            "/metrics and /health/detailed answer every address (GATEHOUSE_METRICS_ALLOW includes 0.0.0.0/0 or ::/0)",
            "they show versions, key ids, client ids and store figures to anyone who can reach the server",
            "set GATEHOUSE_METRICS_BIND=127.0.0.1:9100 and scrape that, or narrow GATEHOUSE_METRICS_ALLOW to the scraper's network",
        );
    }
    Finding::ok(ID, "/metrics and /health/detailed are for the operator's network only")
}

fn encryption(config: &Config) -> Finding {
    const ID: &str = "keys.encryption";
    if config.secret_key.is_none() {
        return Finding::warn(
            ID,
            "private signing keys and server secrets are stored unencrypted",
            "anyone who reads the database or a backup can sign tokens as this server",
            super::fixes::ENCRYPT,
        );
    }
    Finding::ok(ID, "private keys and server secrets are encrypted at rest")
}

#[cfg(unix)]
fn data_dir(config: &Config) -> Finding {
    use std::os::unix::fs::PermissionsExt;
    const ID: &str = "store.data_dir";
    let dir = &config.data_dir;
    let Ok(meta) = std::fs::metadata(dir) else {
        return Finding::warn(
            ID,
            format!("the data directory {} does not exist yet", dir.display()),
            "the embedded store is created by the first start",
            "start the server once: gatehouse serve",
        );
    };
    let open: Vec<String> = std::iter::once((dir.clone(), meta.permissions().mode()))
        .chain(
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                // The store's files (the database, its log and shared memory); a log file the
                // operator keeps there holds no secret.
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(gatehouse_storage::sqlite::DB_FILE)
                })
                .filter_map(|e| Some((e.path(), e.metadata().ok()?.permissions().mode()))),
        )
        .filter(|(_, mode)| mode & 0o077 != 0)
        .map(|(path, mode)| format!("{} is mode {:o}", path.display(), mode & 0o777))
        .collect();
    if open.is_empty() {
        return Finding::ok(ID, format!("{} and its files are private to this user", dir.display()));
    }
    Finding::fail(
        ID,
        format!("the data directory is readable by others: {}", open.join(", ")),
        "the store holds password hashes, token hashes and (unless encrypted) private signing keys",
        format!("chmod 700 {0} && chmod 600 {0}/*", dir.display()),
    )
}

#[cfg(not(unix))]
fn data_dir(_: &Config) -> Finding {
    Finding::ok("store.data_dir", "file modes are not checked on this platform")
}
