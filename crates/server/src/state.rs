//! Shared application state and the small helpers every endpoint uses (clock, randomness).

use crate::config::Config;
use crate::keys::KeyRing;
use gatehouse_protocol::types::{UnixTime, b64url};
use gatehouse_storage::Store;
use std::sync::Arc;

/// State shared by every request.
pub struct AppState {
    /// Validated configuration.
    pub config: Config,
    /// The issuer, without trailing slash; the root of every URL Gatehouse emits.
    pub issuer: String,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Signing keys as of the last reload; swapped by the key poller (`GATEHOUSE_KEY_POLL_INTERVAL`).
    // A std lock: held only to clone or swap the Arc, never across an await.
    pub keys: std::sync::RwLock<std::sync::Arc<KeyRing>>,
    /// The discovery document, serialised once at start (shared, not copied, per response).
    pub discovery: actix_web::web::Bytes,
    /// Whether cookies get `Secure` (the issuer is https).
    pub secure_cookies: bool,
    /// An Argon2id hash of a random password, verified when a username is unknown so that the
    /// response takes as long as for a known one.
    pub dummy_password_hash: String,
    /// Key for deriving refresh-token successors ([`crate::issue::successor_value`]); the secret is
    /// shared by every instance through the store.
    pub refresh_key: aws_lc_rs::hmac::Key,
    /// Per-instance rate limiters.
    pub limiters: crate::protect::Limiters,
    /// When this process started serving.
    pub started: std::time::Instant,
    /// Shared and cached health-check results (`/ready`, `/health/detailed`).
    pub health: crate::endpoints::health::HealthCache,
}

impl AppState {
    /// The current key ring.
    #[must_use]
    pub fn keys(&self) -> std::sync::Arc<KeyRing> {
        self.keys.read().map_or_else(
            |p| std::sync::Arc::clone(&p.into_inner()),
            |k| std::sync::Arc::clone(&k),
        )
    }
}

/// The current time.
#[must_use]
pub fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A fresh 256-bit random value, base64url (43 characters): codes, tokens, secrets, cookies.
#[must_use]
pub fn random_token() -> String {
    random_b64(32)
}

/// A fresh access-token value (or JWT `jti`) whose storage key sorts by issue time: 208 random
/// bits plus the issue time in milliseconds, 44 characters (see `TokenHash::ordered`).
#[must_use]
pub fn ordered_token() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut random = [0u8; 26];
    aws_lc_rs::rand::fill(&mut random).expect("the system random source failed");
    gatehouse_protocol::types::ordered_value(millis, &random)
}

/// `len` random bytes, base64url.
#[must_use]
pub fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source failed");
    b64url(&bytes)
}
