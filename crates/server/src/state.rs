//! State shared by every request.

use crate::config::Config;
use crate::keys::KeyRing;
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
    /// Key of the CSRF tokens of forms without a stored interaction ([`crate::csrf`]): a server
    /// secret shared by every instance through the store.
    pub form_key: aws_lc_rs::hmac::Key,
    /// Ends sessions and delivers back-channel logout notifications.
    pub backchannel: std::sync::Arc<crate::logout::Backchannel>,
    /// DPoP server nonces, when `GATEHOUSE_DPOP_NONCE` is on (from a server secret every instance
    /// shares).
    pub dpop_nonces: Option<crate::nonces::Nonces>,
    /// Clients' public keys, with the cache of those fetched from `jwks_uri`.
    pub client_keys: crate::client_keys::ClientKeySource,
    /// Client ID Metadata Documents fetched and cached.
    pub documents: crate::documents::Documents,
    /// The clients for calls to other servers, and for vetting URLs clients register.
    pub outbounds: crate::outbound::Outbounds,
    /// Per-instance rate limiters.
    pub limiters: crate::protect::Limiters,
    /// When this process started serving.
    pub started: std::time::Instant,
    /// Shared and cached health-check results (`/ready`, `/health/detailed`).
    pub health: crate::probe::HealthCache,
    /// The wall clock; read once per request.
    pub clock: crate::clock::Clock,
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
