//! Every setting `serve` reads, in one table: its name, its default and what it does. The default
//! is written here once: the loader parses it when a setting is unset, `--help` and `config check`
//! print it, and a test checks that the README's settings table agrees.

/// What a setting is when nobody sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This value, parsed like a configured one.
    Value(&'static str),
    /// This value, shown to people as the text that follows (a long list, say).
    Shown(&'static str, &'static str),
    /// Unset: the setting's feature is off or derived; the text says what that means.
    Unset(&'static str),
}

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// The environment variable (the TOML key is [`super::file_key`] of it).
    pub name: &'static str,
    /// Its default.
    pub default: Fallback,
    /// What it does, in one line.
    pub doc: &'static str,
}

impl Setting {
    /// The default as people read it (in `--help`, `config check` and the README).
    #[must_use]
    pub const fn shown_default(&self) -> &'static str {
        match self.default {
            Fallback::Value(v) => v,
            Fallback::Shown(_, shown) | Fallback::Unset(shown) => shown,
        }
    }

    /// The default as the loader parses it, if there is one.
    #[must_use]
    pub const fn default_value(&self) -> Option<&'static str> {
        match self.default {
            Fallback::Value(v) | Fallback::Shown(v, _) => Some(v),
            Fallback::Unset(_) => None,
        }
    }
}

/// The setting called `name`.
#[must_use]
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The default of `GATEHOUSE_REGISTRATION_POLICIES`: what MCP clients and other native apps need.
const DEFAULT_POLICY: &str =
    "default: scope=openid,profile,email,offline_access grant_types=authorization_code,refresh_token public=true";

/// The default of `GATEHOUSE_METRICS_ALLOW`: loopback and private (RFC 1918, RFC 4193) ranges.
const PRIVATE_NETS: &str = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

const fn value(name: &'static str, default: &'static str, doc: &'static str) -> Setting {
    Setting {
        name,
        default: Fallback::Value(default),
        doc,
    }
}

const fn unset(name: &'static str, shown: &'static str, doc: &'static str) -> Setting {
    Setting {
        name,
        default: Fallback::Unset(shown),
        doc,
    }
}

/// Every setting, in the order `--help` lists them.
#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    unset("GATEHOUSE_CONFIG", "unset", "path of an optional TOML file with these settings (keys without GATEHOUSE_, lowercase); the environment wins"),
    value("GATEHOUSE_BIND", "127.0.0.1:8080", "address and port to listen on (port 0 picks a free port)"),
    unset("GATEHOUSE_ISSUER", "http://<bound address>", "public base URL; every URL Gatehouse emits is built from it"),
    value("GATEHOUSE_DATA_DIR", "./gatehouse-data", "directory of the embedded SQLite store"),
    unset("DATABASE_URL", "unset", "PostgreSQL URL (unset: the embedded SQLite store); sslmode=require turns TLS on (off by default on loopback)"),
    unset("GATEHOUSE_DB_CA_FILE", "unset", "PEM file of the certificate authorities that sign PostgreSQL's TLS certificate (instead of the public web PKI)"),
    value("GATEHOUSE_DB_POOL_MAX", "16", "most PostgreSQL connections per instance"),
    value("GATEHOUSE_DB_POOL_TIMEOUT_MS", "2000", "wait for a pooled or new connection before answering 503"),
    value("GATEHOUSE_DB_STATEMENT_TIMEOUT_MS", "5000", "server-side limit on one SQL statement"),
    value("GATEHOUSE_AUTO_MIGRATE", "true", "apply pending migrations at start; false: refuse to start while any are pending"),
    value("GATEHOUSE_CODE_TTL", "60s", "authorization code lifetime (at most 10m)"),
    value("GATEHOUSE_ACCESS_TOKEN_TTL", "1h", "access token lifetime"),
    value("GATEHOUSE_ID_TOKEN_TTL", "1h", "ID token lifetime"),
    value("GATEHOUSE_REFRESH_TOKEN_TTL", "30d", "refresh token lifetime (idle: each rotation starts it again)"),
    value("GATEHOUSE_REFRESH_FAMILY_MAX_AGE", "90d", "absolute lifetime of a refresh-token family, however often it rotates"),
    value("GATEHOUSE_REFRESH_REUSE_GRACE_SECONDS", "0", "seconds in which a replayed rotated refresh token gets its successor back (at most 60)"),
    value("GATEHOUSE_JWT_ACCESS_TOKEN_ALG", "ES256", "signing algorithm of JWT access tokens (RS256, ES256 or EdDSA)"),
    value("GATEHOUSE_KEY_PUBLISH_DELAY", "10m", "a rotated-in key is published at once but signs only after this (JWKS caches pick it up first)"),
    value("GATEHOUSE_KEY_POLL_INTERVAL", "30s", "how often instances look for key changes (rotations, activations, retirements)"),
    value("GATEHOUSE_KEY_ROTATION_INTERVAL", "off", "rotate every signing key automatically this often, e.g. 30d"),
    unset("GATEHOUSE_INSTANCE_NAME", "unset", "name sent in the X-Gatehouse-Instance response header, to tell instances apart"),
    value("GATEHOUSE_SESSION_TTL", "24h", "browser session (single sign-on) lifetime"),
    value("GATEHOUSE_LOGIN_TTL", "15m", "time a user has to finish the login and consent pages"),
    value("GATEHOUSE_CLEANUP_INTERVAL", "5m", "how often expired and long-revoked rows are deleted"),
    value("GATEHOUSE_CLEANUP_BATCH", "500", "rows deleted per statement by the cleanup task"),
    value("GATEHOUSE_REVOKED_RETENTION", "1d", "how long revoked tokens and grants are kept (for audit) before cleanup deletes them; at least GATEHOUSE_ACCESS_TOKEN_TTL"),
    unset("GATEHOUSE_TRUSTED_PROXIES", "none", "comma-separated addresses or CIDRs whose X-Forwarded-For is believed"),
    unset("GATEHOUSE_CORS_ORIGINS", "none", "comma-separated origins allowed to call discovery, JWKS, token, userinfo, revoke, introspect"),
    unset("GATEHOUSE_METRICS_BIND", "unset", "separate address:port for /metrics (unset: /metrics on GATEHOUSE_BIND)"),
    Setting { name: "GATEHOUSE_METRICS_ALLOW", default: Fallback::Shown(PRIVATE_NETS, "loopback and private ranges"), doc: "comma-separated addresses or CIDRs allowed to read /metrics and /health/detailed (0.0.0.0/0,::/0 for everyone)" },
    unset("GATEHOUSE_SECRET_KEY", "unset", "key-encryption key (32 bytes, base64 or hex) that encrypts private signing keys and server secrets at rest; create with: openssl rand -base64 32"),
    unset("GATEHOUSE_SECRET_KEY_FILE", "unset", "file holding the key-encryption key instead (mode 600)"),
    value("GATEHOUSE_LOCKOUT", "5/15m", "failed logins per account within a window that lock it for the window, or off"),
    value("GATEHOUSE_RATE_LIMIT_LOGIN_FAILURES", "30/5m", "failed logins per client address before 429, or off"),
    value("GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES", "20/1m", "failed client authentications per (client_id, address) before 429 (a verified request is never refused), or off"),
    value("GATEHOUSE_RATE_LIMIT_TOKEN", "off", "all token requests per authenticated client, e.g. 6000/1m"),
    value("GATEHOUSE_RATE_LIMIT_LOGIN", "off", "all login form posts per client address, e.g. 60/1m"),
    value("GATEHOUSE_STRICT_ASSERTION_AUDIENCE", "false", "true: client assertions must name the issuer identifier as aud, for every client (no legacy endpoint URL or array)"),
    value("GATEHOUSE_REQUIRE_PAR", "false", "true: every client must push its authorization requests to /oauth/par (RFC 9126); per client: client update --require-pushed-authorization-requests true"),
    value("GATEHOUSE_PAR_TTL", "60s", "how long a pushed authorization request's request_uri may be used at /oauth/authorize, at most 10m"),
    value("GATEHOUSE_DPOP_NONCE", "false", "true: DPoP proofs must carry a server nonce (RFC 9449 section 8; clients retry once with the DPoP-Nonce they are given)"),
    value("GATEHOUSE_DPOP_IAT_WINDOW", "60s", "how far a DPoP proof's iat may be from the server's time, either way, at most 10m"),
    value("GATEHOUSE_DPOP_RS256", "false", "true: accept RS256 DPoP proofs besides ES256, EdDSA and PS256"),
    value("GATEHOUSE_DEVICE_CODE_TTL", "10m", "lifetime of a device authorization's codes (RFC 8628), at most 1h"),
    value("GATEHOUSE_DEVICE_POLL_INTERVAL", "5s", "how often a device may poll the token endpoint; each poll sooner adds 5s (slow_down)"),
    value("GATEHOUSE_RATE_LIMIT_DEVICE_CODES", "20/10m", "wrong device codes per client address, counted by all instances, before 429, or off"),
    unset("GATEHOUSE_OUTBOUND_ALLOW", "none", "comma-separated CIDRs, addresses or host names inside your network that outbound calls (back-channel logout) may reach; public addresses are always allowed"),
    unset("GATEHOUSE_OUTBOUND_CA_FILE", "unset", "PEM file of extra certificate authorities that outbound https calls trust (besides the public web PKI)"),
    value("GATEHOUSE_REGISTRATION", "off", "dynamic client registration at /oauth/register (RFC 7591): off, token (needs an initial access token) or open"),
    value("GATEHOUSE_REGISTRATION_POLICIES", DEFAULT_POLICY, "what self-registered clients may be: name: scope=a,b grant_types=x,y resources=u,v public=true or false, separated by ; (a default policy is required)"),
    value("GATEHOUSE_RATE_LIMIT_REGISTRATION", "10/1h", "registrations per client address at /oauth/register, or off"),
    value("GATEHOUSE_DYNAMIC_CLIENT_IDLE", "90d", "self-registered and metadata-document clients unused this long are deleted, or off"),
    value("GATEHOUSE_CLIENT_ID_METADATA", "off", "on: an https client_id names the client's metadata document, fetched and used as its registration"),
    unset("GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW", "none", "internal CIDRs, addresses or host names that URLs of self-registered and metadata-document clients may name (GATEHOUSE_OUTBOUND_ALLOW does not apply to them)"),
    unset("GATEHOUSE_CLIENT_ID_METADATA_HOSTS", "any public host", "comma-separated hosts whose metadata documents are accepted"),
    value("GATEHOUSE_OUTBOUND_TIMEOUT", "2s", "timeout of each outbound call (a back-channel logout delivery)"),
    value("GATEHOUSE_BACKCHANNEL_RETRY", "30s", "wait before retrying a failed back-channel logout; doubles with each attempt (at most 1h)"),
    value("GATEHOUSE_BACKCHANNEL_ATTEMPTS", "8", "deliveries tried per back-channel logout notification before it is given up"),
    value("GATEHOUSE_SHUTDOWN_TIMEOUT", "30s", "on SIGTERM/SIGINT, how long in-flight requests may take to finish"),
    value("GATEHOUSE_LOG", "info", "log filter (tracing EnvFilter syntax, e.g. info,gatehouse=debug)"),
    value("GATEHOUSE_LOG_FORMAT", "auto", "json, text, or auto (text on a terminal, json otherwise)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(SETTINGS[i + 1..].iter().all(|o| o.name != s.name), "{} twice", s.name);
        }
    }

    /// The README's settings table lists every setting once, with the default printed here.
    #[test]
    fn the_readme_table_agrees() {
        let readme = include_str!("../../../../README.md");
        let table = &readme[readme.find("## Settings").unwrap()..];
        let rows: Vec<(&str, &str)> = table
            .lines()
            .skip_while(|l| !l.starts_with("| `"))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let mut cells = l.split('|').map(str::trim).skip(1);
                Some((cells.next()?.trim_matches('`'), cells.next()?.trim_matches('`')))
            })
            .collect();
        for s in SETTINGS {
            let row = rows.iter().find(|(name, _)| *name == s.name);
            assert_eq!(row.map(|r| r.1), Some(s.shown_default()), "README row of {}", s.name);
        }
        assert_eq!(
            rows.len(),
            SETTINGS.len(),
            "the README lists a setting the table does not"
        );
    }
}
