//! Server configuration from `GATEHOUSE_*` environment variables and an optional TOML file. Every
//! setting has a safe default, written once in [`settings::SETTINGS`]; an invalid value fails
//! start-up with a message naming the setting.
//!
//! - `settings.rs`: the table of settings (name, default, meaning).
//! - `read.rs`: reading one setting into its type (durations, numbers, limits, address lists).
//! - `file.rs`: the TOML file and where each value came from.
//! - `secret.rs`: the key-encryption key, and redaction of secrets for printing.

mod file;
mod read;
mod registration;
mod rules;
mod secret;
pub mod settings;

pub use file::{Sources, file_key};
pub use read::{Limit, parse_duration};
pub use registration::{Registration, RegistrationMode};
pub use secret::{SecretKey, redact};
pub use settings::SETTINGS;

use read::{Reader, edit_distance, list, parse_issuer};
use secret::secret_key;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const MIN: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

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
    pub lockout: Option<Limit>,
    /// Failed logins per client address.
    pub limit_login_failures: Option<Limit>,
    /// Failed client authentications per client id.
    pub limit_client_auth_failures: Option<Limit>,
    /// All token requests per client id.
    pub limit_token: Option<Limit>,
    /// All login posts per client address.
    pub limit_login: Option<Limit>,
    /// Client assertions must name the issuer as `aud`, for every client.
    pub strict_assertion_audience: bool,
    /// Every client must push its authorization requests (RFC 9126 §5).
    pub require_par: bool,
    /// Lifetime of a pushed request's `request_uri`.
    pub par_ttl: Duration,
    /// DPoP proofs must carry a server nonce (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// How far a DPoP proof's `iat` may be from now, either way.
    pub dpop_window: Duration,
    /// RS256 DPoP proofs are accepted.
    pub dpop_rs256: bool,
    /// Lifetime of device authorization codes.
    pub device_code_ttl: Duration,
    /// Device polling interval.
    pub device_poll_interval: Duration,
    /// Wrong device codes per client address.
    pub limit_device_codes: Option<Limit>,
    /// Internal destinations outbound calls may reach (`GATEHOUSE_OUTBOUND_ALLOW`).
    pub outbound_allow: Vec<crate::outbound::Allowed>,
    /// Timeout of each outbound call.
    pub outbound_timeout: Duration,
    /// Extra certificate authorities outbound https calls trust (`GATEHOUSE_OUTBOUND_CA_FILE`).
    pub outbound_ca_file: Option<PathBuf>,
    /// Self-registration and metadata documents.
    pub registration: Registration,
    /// First retry delay of a failed back-channel logout delivery.
    pub backchannel_retry: Duration,
    /// Deliveries tried per back-channel logout notification.
    pub backchannel_attempts: u32,
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
    /// The log filter (`GATEHOUSE_LOG`, tracing `EnvFilter` syntax), validated.
    pub log_filter: String,
    /// The log format (`GATEHOUSE_LOG_FORMAT`).
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
    /// Text on a terminal, JSON otherwise.
    Auto,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            "auto" => Ok(Self::Auto),
            _ => Err(format!("{s:?} is not json, text or auto")),
        }
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
        let config = Self::read(&Reader::new(get))?;
        rules::together(&config)?;
        Ok(config)
    }

    fn read<G: Fn(&str) -> Option<String>>(r: &Reader<G>) -> Result<Self, ConfigError> {
        let secs = Duration::from_secs;
        Ok(Self {
            bind: r
                .socket("GATEHOUSE_BIND", "127.0.0.1:8080 or [::]:8080")?
                .unwrap_or_else(|| ([127, 0, 0, 1], 8080).into()),
            issuer: r.set("GATEHOUSE_ISSUER").map(|v| parse_issuer(&v)).transpose()?,
            data_dir: PathBuf::from(r.value("GATEHOUSE_DATA_DIR").unwrap_or_default()),
            // RFC 6749 §4.1.2: codes must be short-lived; 10 minutes is the recommended maximum.
            code_ttl: r.duration("GATEHOUSE_CODE_TTL", secs(10 * MIN))?,
            access_token_ttl: r.duration("GATEHOUSE_ACCESS_TOKEN_TTL", secs(DAY))?,
            id_token_ttl: r.duration("GATEHOUSE_ID_TOKEN_TTL", secs(DAY))?,
            refresh_token_ttl: r.duration("GATEHOUSE_REFRESH_TOKEN_TTL", secs(365 * DAY))?,
            session_ttl: r.duration("GATEHOUSE_SESSION_TTL", secs(365 * DAY))?,
            login_ttl: r.duration("GATEHOUSE_LOGIN_TTL", secs(DAY))?,
            database: database(r)?,
            auto_migrate: r.flag("GATEHOUSE_AUTO_MIGRATE")?,
            refresh_family_max_age: r.duration("GATEHOUSE_REFRESH_FAMILY_MAX_AGE", secs(3650 * DAY))?,
            refresh_reuse_grace_seconds: r.number("GATEHOUSE_REFRESH_REUSE_GRACE_SECONDS", 0..=60)?,
            jwt_access_token_alg: r.parsed("GATEHOUSE_JWT_ACCESS_TOKEN_ALG")?,
            cleanup_interval: r.duration("GATEHOUSE_CLEANUP_INTERVAL", secs(DAY))?,
            cleanup_batch: u32::try_from(r.number("GATEHOUSE_CLEANUP_BATCH", 1..=100_000)?).unwrap_or(u32::MAX),
            revoked_retention: r.duration("GATEHOUSE_REVOKED_RETENTION", secs(365 * DAY))?,
            trusted_proxies: r.nets("GATEHOUSE_TRUSTED_PROXIES")?,
            cors_origins: cors_origins(r)?,
            metrics_bind: r.socket("GATEHOUSE_METRICS_BIND", "127.0.0.1:9100")?,
            // Internals (versions, key ids, store figures) are for the operator's network only: by
            // default loopback and private ranges, judged on the client address behind trusted proxies.
            metrics_allow: r.nets("GATEHOUSE_METRICS_ALLOW")?,
            lockout: r.limit("GATEHOUSE_LOCKOUT")?,
            limit_login_failures: r.limit("GATEHOUSE_RATE_LIMIT_LOGIN_FAILURES")?,
            limit_client_auth_failures: r.limit("GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES")?,
            limit_token: r.limit("GATEHOUSE_RATE_LIMIT_TOKEN")?,
            limit_login: r.limit("GATEHOUSE_RATE_LIMIT_LOGIN")?,
            secret_key: secret_key(r)?,
            strict_assertion_audience: r.flag("GATEHOUSE_STRICT_ASSERTION_AUDIENCE")?,
            require_par: r.flag("GATEHOUSE_REQUIRE_PAR")?,
            par_ttl: r.duration("GATEHOUSE_PAR_TTL", secs(10 * MIN))?,
            dpop_nonce: r.flag("GATEHOUSE_DPOP_NONCE")?,
            dpop_window: r.duration("GATEHOUSE_DPOP_IAT_WINDOW", secs(10 * MIN))?,
            dpop_rs256: r.flag("GATEHOUSE_DPOP_RS256")?,
            device_code_ttl: r.duration("GATEHOUSE_DEVICE_CODE_TTL", secs(HOUR))?,
            device_poll_interval: r.duration("GATEHOUSE_DEVICE_POLL_INTERVAL", secs(MIN))?,
            limit_device_codes: r.limit("GATEHOUSE_RATE_LIMIT_DEVICE_CODES")?,
            outbound_allow: r.items("GATEHOUSE_OUTBOUND_ALLOW", crate::outbound::Allowed::parse)?,
            outbound_timeout: r.duration("GATEHOUSE_OUTBOUND_TIMEOUT", secs(MIN))?,
            outbound_ca_file: r.set("GATEHOUSE_OUTBOUND_CA_FILE").map(PathBuf::from),
            registration: Registration::read(r)?,
            backchannel_retry: r.duration("GATEHOUSE_BACKCHANNEL_RETRY", secs(HOUR))?,
            backchannel_attempts: u32::try_from(r.number("GATEHOUSE_BACKCHANNEL_ATTEMPTS", 1..=100)?).unwrap_or(100),
            shutdown_timeout: r.duration("GATEHOUSE_SHUTDOWN_TIMEOUT", secs(HOUR))?,
            key_publish_delay: match r.set("GATEHOUSE_KEY_PUBLISH_DELAY").as_deref() {
                Some("0") => Duration::ZERO,
                _ => r.duration("GATEHOUSE_KEY_PUBLISH_DELAY", secs(7 * DAY))?,
            },
            key_poll_interval: r.duration("GATEHOUSE_KEY_POLL_INTERVAL", secs(HOUR))?,
            key_rotation_interval: key_rotation_interval(r)?,
            instance_name: instance_name(r)?,
            log_filter: log_filter(r)?,
            log_format: r.parsed("GATEHOUSE_LOG_FORMAT")?,
        })
    }

    /// Loads the configuration: the environment, then the optional TOML file (`--config` or
    /// `GATEHOUSE_CONFIG`); the environment wins. Returns the config and where each setting came from.
    ///
    /// # Errors
    /// An unreadable file, an unknown key (named, with the nearest valid one), or an invalid value.
    pub fn load(path: Option<&std::path::Path>) -> Result<(Self, Sources), ConfigError> {
        let file = match path {
            Some(p) => file::read_file(p)?,
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
            .filter(|k| settings::find(k).is_none())
            .map(|k| {
                let nearest = SETTINGS
                    .iter()
                    .map(|s| s.name)
                    .min_by_key(|n| edit_distance(n, &k))
                    .unwrap_or("");
                (k, nearest)
            })
            .collect()
    }
}

/// PostgreSQL settings when `DATABASE_URL` is set. The pool settings are checked even without it,
/// so a typo never waits for the day PostgreSQL is switched on.
fn database<G: Fn(&str) -> Option<String>>(
    r: &Reader<G>,
) -> Result<Option<gatehouse_storage::postgres::PgSettings>, ConfigError> {
    let pool_max = usize::try_from(r.number("GATEHOUSE_DB_POOL_MAX", 1..=1000)?).unwrap_or(usize::MAX);
    let pool_timeout = Duration::from_millis(r.number("GATEHOUSE_DB_POOL_TIMEOUT_MS", 10..=600_000)?);
    let statement_timeout = Duration::from_millis(r.number("GATEHOUSE_DB_STATEMENT_TIMEOUT_MS", 10..=3_600_000)?);
    let Some(url) = r.set("DATABASE_URL").filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let invalid = |message: String| ConfigError {
        setting: "DATABASE_URL",
        message,
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(invalid(
            "must be a postgres:// or postgresql:// URL (unset it to use the embedded store)".into(),
        ));
    }
    let mut pg = gatehouse_storage::postgres::PgSettings::new(url);
    pg.pool_max = pool_max;
    pg.pool_timeout = pool_timeout;
    pg.statement_timeout = statement_timeout;
    gatehouse_storage::postgres::tls_params(&pg.url).map_err(invalid)?;
    if let Some(path) = r.set("GATEHOUSE_DB_CA_FILE") {
        if !std::path::Path::new(&path).is_file() {
            return Err(ConfigError {
                setting: "GATEHOUSE_DB_CA_FILE",
                message: format!("{path} is not a readable file of PEM certificates"),
            });
        }
        pg.ca_file = Some(path.into());
    }
    Ok(Some(pg))
}

/// Browser origins allowed by CORS: scheme, host and optional port, nothing else.
fn cors_origins<G: Fn(&str) -> Option<String>>(r: &Reader<G>) -> Result<Vec<String>, ConfigError> {
    let raw = r.set("GATEHOUSE_CORS_ORIGINS").unwrap_or_default();
    list(&raw)
        .map(|o| {
            let ok = url::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.path() == "/" && !o.ends_with('/') && u.query().is_none()
            });
            if ok {
                Ok(o.to_owned())
            } else {
                Err(ConfigError {
                    setting: "GATEHOUSE_CORS_ORIGINS",
                    message: format!(
                        "{o:?} is not an origin such as https://app.example.com (scheme, host, optional port; no path)"
                    ),
                })
            }
        })
        .collect()
}

fn key_rotation_interval<G: Fn(&str) -> Option<String>>(r: &Reader<G>) -> Result<Option<Duration>, ConfigError> {
    match r.value("GATEHOUSE_KEY_ROTATION_INTERVAL").as_deref().map(str::trim) {
        None | Some("off") => Ok(None),
        Some(raw) => parse_duration(raw)
            .filter(|d| *d >= Duration::from_secs(60))
            .map(Some)
            .ok_or_else(|| ConfigError {
                setting: "GATEHOUSE_KEY_ROTATION_INTERVAL",
                message: format!("{raw:?} is not a duration of at least 60s (e.g. 30d), or off"),
            }),
    }
}

fn instance_name<G: Fn(&str) -> Option<String>>(r: &Reader<G>) -> Result<Option<String>, ConfigError> {
    let name = r.set("GATEHOUSE_INSTANCE_NAME").filter(|n| !n.is_empty());
    if let Some(n) = &name
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
    Ok(name)
}

fn log_filter<G: Fn(&str) -> Option<String>>(r: &Reader<G>) -> Result<String, ConfigError> {
    let filter = r.value("GATEHOUSE_LOG").unwrap_or_default();
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| ConfigError {
        setting: "GATEHOUSE_LOG",
        message: format!("{filter:?} is not a log filter such as info or info,gatehouse=debug ({e})"),
    })?;
    Ok(filter)
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
    fn revoked_retention_outlives_access_tokens() {
        let e = load(&[
            ("GATEHOUSE_ACCESS_TOKEN_TTL", "2h"),
            ("GATEHOUSE_REVOKED_RETENTION", "1h"),
        ])
        .unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_REVOKED_RETENTION");
        assert!(e.message.contains("GATEHOUSE_ACCESS_TOKEN_TTL (7200s)"), "{e}");
        load(&[
            ("GATEHOUSE_ACCESS_TOKEN_TTL", "1d"),
            ("GATEHOUSE_REVOKED_RETENTION", "1d"),
        ])
        .unwrap();
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

    /// Every setting the loader reads is in the table (`Reader::set` asserts it), and every setting
    /// in the table is read (`GATEHOUSE_CONFIG` is the file's own path, read by the command line).
    #[test]
    fn every_setting_in_the_table_is_read() {
        let reader = Reader::new(|k: &str| match k {
            "DATABASE_URL" => Some("postgres://u@127.0.0.1/gh".to_owned()),
            "GATEHOUSE_DB_CA_FILE" => Some("Cargo.toml".to_owned()),
            _ => None,
        });
        Config::read(&reader).unwrap();
        let read = reader.read.borrow();
        for s in SETTINGS.iter().filter(|s| s.name != "GATEHOUSE_CONFIG") {
            assert!(read.contains(&s.name), "{} is in SETTINGS but never read", s.name);
        }
    }

    #[test]
    fn every_default_in_the_table_parses() {
        let c = load(&[]).unwrap();
        assert_eq!(c.metrics_allow.len(), 6);
        assert_eq!(c.lockout.map(|l| l.count), Some(5));
        assert_eq!(c.log_format, LogFormat::Auto);
        assert_eq!(c.data_dir, PathBuf::from("./gatehouse-data"));
        assert!(c.key_rotation_interval.is_none() && c.limit_token.is_none());
        let e = load(&[("GATEHOUSE_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_LOG_FORMAT");
        let e = load(&[("GATEHOUSE_LOG", "info,=[")]).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_LOG");
    }
}
