//! Server configuration from `GATEHOUSE_*` environment variables. Every setting has a safe
//! default; an invalid value fails start-up with a message naming the setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every setting `serve` reads, with its default, for `--help`, the README and typo hints.
#[rustfmt::skip]
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("GATEHOUSE_CONFIG", "(none)", "path of an optional TOML file with these settings (keys without GATEHOUSE_, lowercase); the environment wins"),
    ("GATEHOUSE_BIND", "127.0.0.1:8080", "address and port to listen on (port 0 picks a free port)"),
    ("GATEHOUSE_ISSUER", "http://<bind address>", "public base URL; every URL Gatehouse emits is built from it"),
    ("GATEHOUSE_DATA_DIR", "./gatehouse-data", "directory of the embedded SQLite store"),
    ("DATABASE_URL", "(unset: embedded SQLite)", "PostgreSQL URL; sslmode=require turns TLS on (off by default on loopback)"),
    ("GATEHOUSE_DB_POOL_MAX", "16", "most PostgreSQL connections per instance"),
    ("GATEHOUSE_DB_POOL_TIMEOUT_MS", "2000", "wait for a pooled or new connection before answering 503"),
    ("GATEHOUSE_DB_STATEMENT_TIMEOUT_MS", "5000", "server-side limit on one SQL statement"),
    ("GATEHOUSE_AUTO_MIGRATE", "true", "apply pending migrations at start; false: refuse to start while any are pending"),
    ("GATEHOUSE_CODE_TTL", "60s", "authorization code lifetime (at most 10m)"),
    ("GATEHOUSE_ACCESS_TOKEN_TTL", "1h", "access token lifetime"),
    ("GATEHOUSE_ID_TOKEN_TTL", "1h", "ID token lifetime"),
    ("GATEHOUSE_REFRESH_TOKEN_TTL", "30d", "refresh token lifetime (idle: each rotation starts it again)"),
    ("GATEHOUSE_REFRESH_FAMILY_MAX_AGE", "90d", "absolute lifetime of a refresh-token family, however often it rotates"),
    ("GATEHOUSE_REFRESH_REUSE_GRACE_SECONDS", "0", "seconds in which a replayed rotated refresh token gets its successor back (at most 60)"),
    ("GATEHOUSE_JWT_ACCESS_TOKEN_ALG", "ES256", "signing algorithm of JWT access tokens (RS256, ES256 or EdDSA)"),
    ("GATEHOUSE_KEY_PUBLISH_DELAY", "10m", "a rotated-in key is published at once but signs only after this (JWKS caches pick it up first)"),
    ("GATEHOUSE_KEY_POLL_INTERVAL", "30s", "how often instances look for key changes (rotations, activations, retirements)"),
    ("GATEHOUSE_KEY_ROTATION_INTERVAL", "off", "rotate every signing key automatically this often, e.g. 30d"),
    ("GATEHOUSE_INSTANCE_NAME", "(unset)", "name sent in the X-Gatehouse-Instance response header, to tell instances apart"),
    ("GATEHOUSE_SESSION_TTL", "24h", "browser session (single sign-on) lifetime"),
    ("GATEHOUSE_LOGIN_TTL", "15m", "time a user has to finish the login and consent pages"),
    ("GATEHOUSE_CLEANUP_INTERVAL", "5m", "how often expired and long-revoked rows are deleted"),
    ("GATEHOUSE_CLEANUP_BATCH", "500", "rows deleted per statement by the cleanup task"),
    ("GATEHOUSE_REVOKED_RETENTION", "1d", "how long revoked tokens are kept (for audit) before cleanup deletes them"),
    ("GATEHOUSE_TRUSTED_PROXIES", "(none)", "comma-separated addresses or CIDRs whose X-Forwarded-For is believed"),
    ("GATEHOUSE_CORS_ORIGINS", "(none)", "comma-separated origins allowed to call discovery, JWKS, token, userinfo, revoke, introspect"),
    ("GATEHOUSE_METRICS_BIND", "(unset: /metrics on GATEHOUSE_BIND)", "separate address:port for /metrics"),
    ("GATEHOUSE_DB_CA_FILE", "unset", "PEM file of the certificate authorities that sign PostgreSQL's TLS certificate (instead of the public web PKI)"),
    ("GATEHOUSE_SECRET_KEY", "unset", "key-encryption key (32 bytes, base64 or hex) that encrypts private signing keys and server secrets at rest; create with: openssl rand -base64 32"),
    ("GATEHOUSE_SECRET_KEY_FILE", "unset", "file holding the key-encryption key instead (mode 600)"),
    ("GATEHOUSE_METRICS_ALLOW", "(loopback and private ranges)", "comma-separated addresses or CIDRs allowed to read /metrics and /health/detailed (0.0.0.0/0,::/0 for everyone)"),
    ("GATEHOUSE_LOCKOUT", "5/15m", "failed logins per account within a window that lock it for the window, or off"),
    ("GATEHOUSE_RATE_LIMIT_LOGIN_FAILURES", "30/5m", "failed logins per client address before 429, or off"),
    ("GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES", "20/1m", "failed client authentications per (client_id, address) before 429 (a verified request is never refused), or off"),
    ("GATEHOUSE_RATE_LIMIT_TOKEN", "off", "all token requests per authenticated client, e.g. 6000/1m"),
    ("GATEHOUSE_RATE_LIMIT_LOGIN", "off", "all login form posts per client address, e.g. 60/1m"),
    ("GATEHOUSE_SHUTDOWN_TIMEOUT", "30s", "on SIGTERM/SIGINT, how long in-flight requests may take to finish"),
    ("GATEHOUSE_LOG", "info", "log filter (tracing EnvFilter syntax, e.g. info,gatehouse=debug)"),
    ("GATEHOUSE_LOG_FORMAT", "auto", "json, text, or auto (text on a terminal, json otherwise)"),
];

/// The default of `GATEHOUSE_METRICS_ALLOW`: loopback and private (RFC 1918, RFC 4193) ranges.
pub const PRIVATE_NETS: &[&str] = &[
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

/// A configuration error: the setting and what is wrong with its value.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The environment variable.
    pub setting: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// The issuer, without a trailing slash. `None` until the listener is bound when unset.
    pub issuer: Option<String>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Authorization code lifetime.
    pub code_ttl: Duration,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// ID token lifetime.
    pub id_token_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_token_ttl: Duration,
    /// Browser session lifetime.
    pub session_ttl: Duration,
    /// Interaction (login/consent) lifetime.
    pub login_ttl: Duration,
    /// PostgreSQL, when `DATABASE_URL` is set.
    pub database: Option<gatehouse_storage::postgres::PgSettings>,
    /// Apply pending migrations at start.
    pub auto_migrate: bool,
    /// Absolute lifetime of a refresh-token family.
    pub refresh_family_max_age: Duration,
    /// Reuse grace period for rotated refresh tokens, in seconds (0: none).
    pub refresh_reuse_grace_seconds: u64,
    /// Algorithm for JWT access tokens.
    pub jwt_access_token_alg: gatehouse_protocol::types::SigningAlg,
    /// Cleanup task interval.
    pub cleanup_interval: Duration,
    /// Cleanup batch size.
    pub cleanup_batch: u32,
    /// How long revoked tokens are kept.
    pub revoked_retention: Duration,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// CORS origins.
    pub cors_origins: Vec<String>,
    /// Separate listener for `/metrics`.
    pub metrics_bind: Option<SocketAddr>,
    /// Who may read `/metrics` (empty: everyone).
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// Account lockout threshold and window.
    pub lockout: Option<crate::protect::Limit>,
    /// Failed logins per client address.
    pub limit_login_failures: Option<crate::protect::Limit>,
    /// Failed client authentications per client id.
    pub limit_client_auth_failures: Option<crate::protect::Limit>,
    /// All token requests per client id.
    pub limit_token: Option<crate::protect::Limit>,
    /// All login posts per client address.
    pub limit_login: Option<crate::protect::Limit>,
    /// Graceful shutdown deadline.
    pub shutdown_timeout: Duration,
    /// Delay between publishing a new key and signing with it.
    pub key_publish_delay: Duration,
    /// Key reload interval.
    pub key_poll_interval: Duration,
    /// Automatic rotation interval.
    pub key_rotation_interval: Option<Duration>,
    /// This instance's name for `X-Gatehouse-Instance`.
    pub instance_name: Option<String>,
    /// The key-encryption key for private signing keys and server secrets at rest, validated.
    pub secret_key: Option<SecretKey>,
}

/// The text of a validated key-encryption key; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// The key as configured, for [`crate::seal::Kek::parse`].
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl Config {
    /// `max-age` of the JWKS: shorter than the publish delay, so every cache has a new key before
    /// it signs anything; at most five minutes.
    #[must_use]
    pub fn jwks_max_age(&self) -> Duration {
        (self.key_publish_delay / 2).min(Duration::from_secs(300))
    }

    /// The longest any token signed by a key stays valid: a replaced key stays published this long
    /// after its successor starts signing.
    #[must_use]
    pub fn longest_signed_token(&self) -> Duration {
        self.id_token_ttl.max(self.access_token_ttl)
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first invalid setting.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    ///
    /// # Errors
    /// The first invalid setting.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bind_raw = get("GATEHOUSE_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind: SocketAddr = bind_raw.parse().map_err(|_| ConfigError {
            setting: "GATEHOUSE_BIND",
            message: format!("{bind_raw:?} is not an address:port such as 127.0.0.1:8080 or [::]:8080"),
        })?;
        let issuer = get("GATEHOUSE_ISSUER").map(|v| parse_issuer(&v)).transpose()?;
        let duration =
            |setting: &'static str, default: Duration, max: Option<Duration>| -> Result<Duration, ConfigError> {
                let Some(raw) = get(setting) else {
                    return Ok(default);
                };
                let d = parse_duration(&raw).ok_or_else(|| ConfigError {
                    setting,
                    message: format!(
                        "{raw:?} is not a duration; use seconds or a number with s, m, h or d, e.g. 90s, 15m, 1h, 30d"
                    ),
                })?;
                if d.is_zero() {
                    return Err(ConfigError {
                        setting,
                        message: "must be greater than zero".into(),
                    });
                }
                if let Some(max) = max.filter(|m| d > *m) {
                    return Err(ConfigError {
                        setting,
                        message: format!("{raw} is longer than the maximum of {}s", max.as_secs()),
                    });
                }
                Ok(d)
            };
        let number =
            |setting: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u64, ConfigError> {
                let Some(raw) = get(setting) else { return Ok(default) };
                raw.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| ConfigError {
                        setting,
                        message: format!(
                            "{raw:?} is not a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    })
            };
        // Pool settings are checked even without DATABASE_URL, so a typo never waits for the
        // day PostgreSQL is switched on.
        let pool_max = usize::try_from(number("GATEHOUSE_DB_POOL_MAX", 16, 1..=1000)?).unwrap_or(16);
        let pool_timeout = Duration::from_millis(number("GATEHOUSE_DB_POOL_TIMEOUT_MS", 2000, 10..=600_000)?);
        let statement_timeout =
            Duration::from_millis(number("GATEHOUSE_DB_STATEMENT_TIMEOUT_MS", 5000, 10..=3_600_000)?);
        let database = match get("DATABASE_URL").filter(|u| !u.is_empty()) {
            None => None,
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(ConfigError {
                        setting: "DATABASE_URL",
                        message: "must be a postgres:// or postgresql:// URL (unset it to use the embedded store)"
                            .into(),
                    });
                }
                let mut pg = gatehouse_storage::postgres::PgSettings::new(url);
                pg.pool_max = pool_max;
                pg.pool_timeout = pool_timeout;
                pg.statement_timeout = statement_timeout;
                if let Err(message) = gatehouse_storage::postgres::tls_params(&pg.url) {
                    return Err(ConfigError {
                        setting: "DATABASE_URL",
                        message,
                    });
                }
                if let Some(path) = get("GATEHOUSE_DB_CA_FILE") {
                    if !std::path::Path::new(&path).is_file() {
                        return Err(ConfigError {
                            setting: "GATEHOUSE_DB_CA_FILE",
                            message: format!("{path} is not a readable file of PEM certificates"),
                        });
                    }
                    pg.ca_file = Some(path.into());
                }
                Some(pg)
            }
        };
        let jwt_access_token_alg = match get("GATEHOUSE_JWT_ACCESS_TOKEN_ALG") {
            None => gatehouse_protocol::types::SigningAlg::Es256,
            Some(raw) => raw.trim().parse().map_err(|e: String| ConfigError {
                setting: "GATEHOUSE_JWT_ACCESS_TOKEN_ALG",
                message: e,
            })?,
        };
        let refresh_reuse_grace_seconds = number("GATEHOUSE_REFRESH_REUSE_GRACE_SECONDS", 0, 0..=60)?;
        let cleanup_batch = u32::try_from(number("GATEHOUSE_CLEANUP_BATCH", 500, 1..=100_000)?).unwrap_or(500);
        let nets = |setting: &'static str| -> Result<Vec<ipnet::IpNet>, ConfigError> {
            let Some(raw) = get(setting) else { return Ok(Vec::new()) };
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<ipnet::IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| ConfigError {
                            setting,
                            message: format!("{s:?} is not an IP address or CIDR such as 10.0.0.0/8"),
                        })
                })
                .collect()
        };
        let limit = |setting: &'static str, default: &str| -> Result<Option<crate::protect::Limit>, ConfigError> {
            crate::protect::Limit::parse(&get(setting).unwrap_or_else(|| default.to_owned()))
                .map_err(|message| ConfigError { setting, message })
        };
        let cors_origins = match get("GATEHOUSE_CORS_ORIGINS") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|o| {
                    let ok = url::Url::parse(o).is_ok_and(|u| {
                        matches!(u.scheme(), "http" | "https") && u.path() == "/" && !o.ends_with('/') && u.query().is_none()
                    });
                    if ok {
                        Ok(o.to_owned())
                    } else {
                        Err(ConfigError {
                            setting: "GATEHOUSE_CORS_ORIGINS",
                            message: format!("{o:?} is not an origin such as https://app.example.com (scheme, host, optional port; no path)"),
                        })
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        let metrics_bind = get("GATEHOUSE_METRICS_BIND")
            .map(|raw| {
                raw.parse::<SocketAddr>().map_err(|_| ConfigError {
                    setting: "GATEHOUSE_METRICS_BIND",
                    message: format!("{raw:?} is not an address:port such as 127.0.0.1:9100"),
                })
            })
            .transpose()?;
        let trusted_proxies = nets("GATEHOUSE_TRUSTED_PROXIES")?;
        // Internals (versions, key ids, store figures) are for the operator's network only: by
        // default loopback and private ranges, judged on the client address behind trusted proxies.
        let metrics_allow = if get("GATEHOUSE_METRICS_ALLOW").is_some() {
            nets("GATEHOUSE_METRICS_ALLOW")?
        } else {
            PRIVATE_NETS.iter().filter_map(|n| n.parse().ok()).collect()
        };
        let lockout = limit("GATEHOUSE_LOCKOUT", "5/15m")?;
        let limit_login_failures = limit("GATEHOUSE_RATE_LIMIT_LOGIN_FAILURES", "30/5m")?;
        let limit_client_auth_failures = limit("GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES", "20/1m")?;
        let limit_token = limit("GATEHOUSE_RATE_LIMIT_TOKEN", "off")?;
        let limit_login = limit("GATEHOUSE_RATE_LIMIT_LOGIN", "off")?;
        let key_rotation_interval = match get("GATEHOUSE_KEY_ROTATION_INTERVAL").as_deref().map(str::trim) {
            None | Some("off") => None,
            Some(raw) => Some(
                parse_duration(raw)
                    .filter(|d| *d >= Duration::from_secs(60))
                    .ok_or_else(|| ConfigError {
                        setting: "GATEHOUSE_KEY_ROTATION_INTERVAL",
                        message: format!("{raw:?} is not a duration of at least 60s (e.g. 30d), or off"),
                    })?,
            ),
        };
        let instance_name = get("GATEHOUSE_INSTANCE_NAME").filter(|n| !n.is_empty());
        if let Some(n) = &instance_name
            && (n.len() > 64
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        {
            return Err(ConfigError {
                setting: "GATEHOUSE_INSTANCE_NAME",
                message: "use 1 to 64 letters, digits, - _ .".into(),
            });
        }
        let auto_migrate = match get("GATEHOUSE_AUTO_MIGRATE").as_deref().map(str::trim) {
            None | Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                return Err(ConfigError {
                    setting: "GATEHOUSE_AUTO_MIGRATE",
                    message: format!("{other:?} is not true or false"),
                });
            }
        };
        const MIN: u64 = 60;
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        Ok(Self {
            bind,
            issuer,
            data_dir: get("GATEHOUSE_DATA_DIR").map_or_else(|| PathBuf::from("./gatehouse-data"), PathBuf::from),
            // RFC 6749 §4.1.2: codes must be short-lived; 10 minutes is the recommended maximum.
            code_ttl: duration(
                "GATEHOUSE_CODE_TTL",
                Duration::from_secs(60),
                Some(Duration::from_secs(10 * MIN)),
            )?,
            access_token_ttl: duration(
                "GATEHOUSE_ACCESS_TOKEN_TTL",
                Duration::from_secs(HOUR),
                Some(Duration::from_secs(DAY)),
            )?,
            id_token_ttl: duration(
                "GATEHOUSE_ID_TOKEN_TTL",
                Duration::from_secs(HOUR),
                Some(Duration::from_secs(DAY)),
            )?,
            refresh_token_ttl: duration(
                "GATEHOUSE_REFRESH_TOKEN_TTL",
                Duration::from_secs(30 * DAY),
                Some(Duration::from_secs(365 * DAY)),
            )?,
            session_ttl: duration(
                "GATEHOUSE_SESSION_TTL",
                Duration::from_secs(DAY),
                Some(Duration::from_secs(365 * DAY)),
            )?,
            login_ttl: duration(
                "GATEHOUSE_LOGIN_TTL",
                Duration::from_secs(15 * MIN),
                Some(Duration::from_secs(DAY)),
            )?,
            database,
            auto_migrate,
            refresh_family_max_age: duration(
                "GATEHOUSE_REFRESH_FAMILY_MAX_AGE",
                Duration::from_secs(90 * DAY),
                Some(Duration::from_secs(3650 * DAY)),
            )?,
            refresh_reuse_grace_seconds,
            jwt_access_token_alg,
            cleanup_interval: duration(
                "GATEHOUSE_CLEANUP_INTERVAL",
                Duration::from_secs(5 * MIN),
                Some(Duration::from_secs(DAY)),
            )?,
            cleanup_batch,
            revoked_retention: duration(
                "GATEHOUSE_REVOKED_RETENTION",
                Duration::from_secs(DAY),
                Some(Duration::from_secs(365 * DAY)),
            )?,
            trusted_proxies,
            cors_origins,
            metrics_bind,
            metrics_allow,
            lockout,
            limit_login_failures,
            limit_client_auth_failures,
            limit_token,
            limit_login,
            secret_key: secret_key(&get)?,
            shutdown_timeout: duration(
                "GATEHOUSE_SHUTDOWN_TIMEOUT",
                Duration::from_secs(30),
                Some(Duration::from_secs(3600)),
            )?,
            key_publish_delay: match get("GATEHOUSE_KEY_PUBLISH_DELAY").as_deref() {
                Some("0") => Duration::ZERO,
                _ => duration(
                    "GATEHOUSE_KEY_PUBLISH_DELAY",
                    Duration::from_secs(10 * MIN),
                    Some(Duration::from_secs(7 * DAY)),
                )?,
            },
            key_poll_interval: duration(
                "GATEHOUSE_KEY_POLL_INTERVAL",
                Duration::from_secs(30),
                Some(Duration::from_secs(HOUR)),
            )?,
            key_rotation_interval,
            instance_name,
        })
    }

    /// Loads the configuration: the environment, then the optional TOML file (`--config` or
    /// `GATEHOUSE_CONFIG`); the environment wins. Returns the config and where each setting came from.
    ///
    /// # Errors
    /// An unreadable file, an unknown key (named, with the nearest valid one), or an invalid value.
    pub fn load(path: Option<&std::path::Path>) -> Result<(Self, Sources), ConfigError> {
        let file = match path {
            Some(p) => read_file(p)?,
            None => std::collections::BTreeMap::new(),
        };
        let sources = Sources {
            file,
            path: path.map(std::path::Path::to_path_buf),
        };
        let config = Self::from_lookup(|k| sources.get(k).map(|(v, _)| v))?;
        Ok((config, sources))
    }

    /// `GATEHOUSE_*` variables that are set but unknown, each with the nearest known name.
    #[must_use]
    pub fn unknown_settings(vars: impl Iterator<Item = String>) -> Vec<(String, &'static str)> {
        vars.filter(|k| k.starts_with("GATEHOUSE_") && !k.starts_with("GATEHOUSE_TEST_"))
            .filter(|k| !SETTINGS.iter().any(|(name, _, _)| name == k))
            .map(|k| {
                let nearest = SETTINGS
                    .iter()
                    .map(|(n, _, _)| *n)
                    .min_by_key(|n| edit_distance(n, &k))
                    .unwrap_or("");
                (k, nearest)
            })
            .collect()
    }
}

/// Where settings come from: the environment first, then the file.
pub struct Sources {
    file: std::collections::BTreeMap<String, String>,
    path: Option<std::path::PathBuf>,
}

impl Sources {
    /// A setting's value and its source (`env` or the file), if set.
    #[must_use]
    pub fn get(&self, setting: &str) -> Option<(String, String)> {
        if let Ok(v) = std::env::var(setting) {
            return Some((v, "env".into()));
        }
        let path = self.path.as_ref().map_or_else(String::new, |p| p.display().to_string());
        self.file
            .get(&file_key(setting))
            .map(|v| (v.clone(), format!("file {path}")))
    }
}

/// The TOML key of a setting: its name without `GATEHOUSE_`, lowercase (`GATEHOUSE_BIND` -> `bind`,
/// `DATABASE_URL` -> `database_url`).
#[must_use]
pub fn file_key(setting: &str) -> String {
    setting
        .strip_prefix("GATEHOUSE_")
        .unwrap_or(setting)
        .to_ascii_lowercase()
}

fn read_file(path: &std::path::Path) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    let err = |message: String| ConfigError {
        setting: "GATEHOUSE_CONFIG",
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| err(format!("{} is not valid TOML: {e}", path.display())))?;
    let known: Vec<String> = SETTINGS
        .iter()
        .map(|(n, _, _)| file_key(n))
        .filter(|k| k != "config")
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in table {
        if !known.contains(&key) {
            let nearest = known
                .iter()
                .min_by_key(|k| edit_distance(k, &key))
                .cloned()
                .unwrap_or_default();
            return Err(err(format!(
                "unknown key {key} in {}; did you mean {nearest}?",
                path.display()
            )));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            other => {
                return Err(err(format!(
                    "key {key} in {}: {other} is not a string, number, boolean or list",
                    path.display()
                )));
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}

/// `GATEHOUSE_SECRET_KEY`, or the content of `GATEHOUSE_SECRET_KEY_FILE` (a file only its owner
/// can read), validated as a key-encryption key.
fn secret_key(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SecretKey>, ConfigError> {
    let (setting, raw) = match (get("GATEHOUSE_SECRET_KEY"), get("GATEHOUSE_SECRET_KEY_FILE")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ConfigError {
                setting: "GATEHOUSE_SECRET_KEY_FILE",
                message: "set GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE, not both".into(),
            });
        }
        (Some(v), None) => ("GATEHOUSE_SECRET_KEY", v),
        (None, Some(path)) => {
            let fail = |message: String| ConfigError {
                setting: "GATEHOUSE_SECRET_KEY_FILE",
                message,
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path)
                    .map_err(|e| fail(format!("cannot read {path}: {e}")))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(fail(format!(
                        "{path} is readable by other users (mode {:o}); fix it with: chmod 600 {path}",
                        mode & 0o777
                    )));
                }
            }
            let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("cannot read {path}: {e}")))?;
            ("GATEHOUSE_SECRET_KEY_FILE", text)
        }
    };
    crate::seal::Kek::parse(&raw).map_err(|message| ConfigError { setting, message })?;
    Ok(Some(SecretKey(raw.trim().to_owned())))
}

/// A setting's value with any password or key replaced, for printing.
#[must_use]
pub fn redact(setting: &str, value: &str) -> String {
    if setting == "GATEHOUSE_SECRET_KEY" {
        return "********".into();
    }
    if setting == "DATABASE_URL" {
        if let Ok(mut u) = url::Url::parse(value) {
            if u.password().is_some() {
                let _ = u.set_password(Some("********"));
            }
            return u.to_string();
        }
        return "[unparseable, not shown]".into();
    }
    value.to_owned()
}

/// The issuer: an absolute http(s) URL without query or fragment; https unless loopback.
fn parse_issuer(raw: &str) -> Result<String, ConfigError> {
    let err = |message: String| ConfigError {
        setting: "GATEHOUSE_ISSUER",
        message,
    };
    let url = url::Url::parse(raw).map_err(|e| err(format!("{raw:?} is not an absolute URL ({e})")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err(
            "must not have a query or fragment (OIDC Discovery section 3)".into()
        ));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(err(format!(
                "{raw} uses http for a non-loopback host; an issuer must use https"
            )));
        }
        other => return Err(err(format!("scheme {other} is not http or https"))),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// `90`, `90s`, `15m`, `1h`, `30d`.
#[must_use]
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = digits.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = load(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.code_ttl.as_secs(), 60);
        assert!(c.issuer.is_none());
    }

    #[test]
    fn invalid_values_name_the_setting() {
        for (k, v) in [
            ("GATEHOUSE_BIND", "nope"),
            ("GATEHOUSE_ISSUER", "http://id.example.com"),
            ("GATEHOUSE_ISSUER", "https://id.example.com/?x=1"),
            ("GATEHOUSE_CODE_TTL", "11m"),
            ("GATEHOUSE_ACCESS_TOKEN_TTL", "soon"),
            ("GATEHOUSE_SESSION_TTL", "0"),
            ("DATABASE_URL", "mysql://x"),
            ("GATEHOUSE_AUTO_MIGRATE", "maybe"),
            ("GATEHOUSE_DB_POOL_MAX", "0"),
            ("GATEHOUSE_REFRESH_REUSE_GRACE_SECONDS", "61"),
            ("GATEHOUSE_JWT_ACCESS_TOKEN_ALG", "HS256"),
            ("DATABASE_URL", "mysql://x"),
            ("GATEHOUSE_AUTO_MIGRATE", "maybe"),
        ] {
            let e = load(&[(k, v)]).unwrap_err();
            assert_eq!(e.setting, k, "{v}");
        }
    }

    #[test]
    fn key_encryption_and_database_ca_settings_say_what_is_wrong() {
        use std::os::unix::fs::PermissionsExt;
        let key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        assert!(load(&[("GATEHOUSE_SECRET_KEY", key)]).unwrap().secret_key.is_some());
        let e = load(&[("GATEHOUSE_SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_SECRET_KEY");
        assert!(!e.message.contains("short"), "the value is never echoed: {}", e.message);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek");
        std::fs::write(&file, key).unwrap();
        let path = file.to_str().unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&[("GATEHOUSE_SECRET_KEY_FILE", path)]).unwrap_err();
        assert!(
            e.setting == "GATEHOUSE_SECRET_KEY_FILE" && e.message.contains("chmod 600"),
            "{}",
            e.message
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            load(&[("GATEHOUSE_SECRET_KEY_FILE", path)])
                .unwrap()
                .secret_key
                .is_some()
        );
        let e = load(&[("GATEHOUSE_SECRET_KEY", key), ("GATEHOUSE_SECRET_KEY_FILE", path)]).unwrap_err();
        assert!(e.message.contains("not both"), "{}", e.message);
        let pg = "postgres://u@db.example.com/gh";
        let e = load(&[("DATABASE_URL", pg), ("GATEHOUSE_DB_CA_FILE", "/nonexistent/ca.pem")]).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_DB_CA_FILE");
        let e = load(&[("DATABASE_URL", &format!("{pg}?sslmode=maybe"))]).unwrap_err();
        assert!(
            e.setting == "DATABASE_URL" && e.message.contains("sslmode"),
            "{}",
            e.message
        );
    }

    #[test]
    fn issuer_loses_its_trailing_slash() {
        let c = load(&[("GATEHOUSE_ISSUER", "https://id.example.com/")]).unwrap();
        assert_eq!(c.issuer.as_deref(), Some("https://id.example.com"));
    }

    #[test]
    fn unknown_settings_suggest_the_nearest() {
        let u = Config::unknown_settings(["GATEHOUSE_ISSUR".to_owned(), "GATEHOUSE_BIND".to_owned()].into_iter());
        assert_eq!(u, vec![("GATEHOUSE_ISSUR".to_owned(), "GATEHOUSE_ISSUER")]);
    }

    #[test]
    fn every_setting_read_is_documented() {
        let source = include_str!("config.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let mut read = Vec::new();
        for (i, _) in code.match_indices('"') {
            let rest = &code[i + 1..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if (name.starts_with("GATEHOUSE_") && name.len() > 10 || name == "DATABASE_URL")
                && rest[name.len()..].starts_with('"')
            {
                read.push(name);
            }
        }
        assert!(read.len() > 20, "{read:?}");
        for name in read.iter().filter(|n| !n.starts_with("GATEHOUSE_TEST_")) {
            assert!(
                SETTINGS.iter().any(|(s, _, _)| s == name),
                "{name} is read but not in SETTINGS"
            );
        }
    }

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        assert!(parse_duration("1w").is_none());
        assert!(parse_duration("").is_none());
    }
}
