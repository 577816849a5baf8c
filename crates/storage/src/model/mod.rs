//! The records the stores keep. Codes, tokens and secrets appear only as [`TokenHash`]es.

use gatehouse_protocol::claims::ClaimsRequest;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::request::authorize::AuthorizationRequest;
use gatehouse_protocol::types::{AccessTokenFormat, ClientId, ScopeSet, SigningAlg, TokenHash, UnixTime};
use serde::{Deserialize, Serialize};

mod client;
mod device;
mod intake;
mod logout;
pub use client::*;
pub use device::*;
pub use intake::*;
pub use logout::*;

/// An end user.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The stable subject identifier (`sub`).
    pub id: String,
    /// The login name, unique.
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// A locked account cannot log in.
    pub locked: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change of profile data (`updated_at` claim).
    pub updated_at: UnixTime,
}

/// The password hash is never printed (a debug log of a record must not carry it).
impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("name", &self.name)
            .field("password_hash", &"[redacted]")
            .field("locked", &self.locked)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A registered scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeRecord {
    /// The scope token.
    pub name: String,
    /// Shown on the consent page.
    pub description: String,
    /// Built in (`openid`, `profile`, `email`, `offline_access`): cannot be deleted.
    pub builtin: bool,
}

/// A browser session: the user authenticated in this browser at `auth_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// SHA-256 of the cookie value.
    pub token_hash: TokenHash,
    /// The public session id (`sid` claim).
    pub sid: String,
    /// The user.
    pub user_id: String,
    /// When the user last entered their password.
    pub auth_time: UnixTime,
    /// When the session ends.
    pub expires_at: UnixTime,
}

/// An authorization request waiting for the user to log in or consent. Bound to the browser by a
/// cookie and to its forms by a CSRF token, both random, stored as hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// Random id, carried in the page URL and the forms.
    pub id: String,
    /// SHA-256 of the CSRF token in the forms.
    pub csrf_hash: TokenHash,
    /// SHA-256 of the browser-binding cookie.
    pub browser_hash: TokenHash,
    /// The validated authorization request.
    pub request: AuthorizationRequest,
    /// Set once the user has authenticated in this interaction.
    pub login: Option<InteractionLogin>,
    /// When the interaction is abandoned.
    pub expires_at: UnixTime,
}

/// Who logged in during an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionLogin {
    /// The user.
    pub user_id: String,
    /// When they authenticated.
    pub auth_time: UnixTime,
    /// Their browser session (`sid`).
    pub sid: String,
}

/// Outcome of [`crate::Codes::take_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// First redemption: the grant the code stands for.
    Fresh(Box<CodeGrant>),
    /// The code was redeemed before: the caller revokes this grant's tokens (RFC 6749 §4.1.2).
    Replayed {
        /// The grant whose tokens must be revoked.
        grant_id: String,
    },
    /// Unknown or expired.
    NotFound,
}

/// What an access token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The authorization grant (user grants only).
    pub grant_id: Option<String>,
    /// The user (`sub`), if any.
    pub subject: Option<String>,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// Claims asked for individually, for userinfo.
    pub claims: ClaimsRequest,
    /// When the user authenticated.
    pub auth_time: Option<UnixTime>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Audiences (resource indicators); empty means the client itself.
    pub audience: Vec<String>,
    /// Opaque, or a JWT stored under the hash of its `jti`.
    pub format: AccessTokenFormat,
    /// The thumbprint of the DPoP key it is bound to (RFC 9449 §6), if any.
    pub dpop_jkt: Option<String>,
}

/// A refresh token; tokens of one authorization grant form a family (RFC 9700 §4.14.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// The family: the authorization grant id.
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user.
    pub subject: String,
    /// Granted scopes (the ceiling for narrowing).
    pub scope: ScopeSet,
    /// Claims asked for individually.
    pub claims: ClaimsRequest,
    /// When the user authenticated (`auth_time` stays the same across refreshes).
    pub auth_time: UnixTime,
    /// The browser session it came from.
    pub session_id: Option<String>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Idle expiry of this token.
    pub expires_at: UnixTime,
    /// Absolute expiry of the whole family, however often it rotates.
    pub family_expires_at: UnixTime,
    /// Resources authorized for the grant (RFC 8707).
    pub audience: Vec<String>,
    /// The thumbprint of the DPoP key a public client's refresh token is bound to (RFC 9449 §5).
    pub dpop_jkt: Option<String>,
}

/// What a rotation varies in the successor of a refresh token; the store copies the rest (family,
/// client, subject, scope, claims, auth time, session, resources, family expiry) from the presented
/// token, and the successor is issued at the rotation's `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Successor {
    /// SHA-256 of the successor's value.
    pub hash: TokenHash,
    /// Idle expiry of the successor (the family's absolute expiry still applies).
    pub expires_at: UnixTime,
    /// The DPoP key to bind the successor to when the presented token is not bound yet (a public
    /// client that started using DPoP, RFC 9449 §5): the 32 bytes of its RFC 7638 thumbprint. A
    /// bound token's successor keeps its key whatever this says.
    pub bind_to: Option<TokenHash>,
    /// The access token issued with the successor, stored in the rotation's own write (one
    /// commit for both) when, and only when, the rotation reports [`Rotation::Rotated`]. `None`
    /// for a JWT access token (never stored) or when the caller stores its own.
    pub access_token: Option<AccessTokenRecord>,
}

impl Successor {
    /// The thumbprint to bind the successor to, as stored (base64url), when the presented token
    /// is not bound yet.
    #[must_use]
    pub fn binding(&self) -> Option<String> {
        self.bind_to.map(|k| gatehouse_protocol::types::b64url(k.as_bytes()))
    }
}

/// Outcome of [`crate::Tokens::rotate_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was current; it is now rotated and the successor stored.
    Rotated(Box<RefreshTokenRecord>),
    /// The presented token had been rotated before: the family is now revoked (RFC 9700 §4.14.2).
    Reused {
        /// The revoked family.
        family_id: String,
        /// The client the family belongs to.
        client_id: ClientId,
    },
    /// The presented token was rotated within the reuse grace period: its successor, still live,
    /// is returned instead of revoking the family.
    Retried(Box<RefreshTokenRecord>),
    /// Unknown, expired or revoked.
    NotFound,
}

/// How many rows a cleanup pass deleted, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Expired or used authorization codes.
    pub codes: u64,
    /// Expired or long-revoked access tokens.
    pub access_tokens: u64,
    /// Expired, family-expired or long-revoked refresh tokens.
    pub refresh_tokens: u64,
    /// Expired browser sessions.
    pub sessions: u64,
    /// Abandoned interactions.
    pub interactions: u64,
    /// Stale failed-login counters.
    pub login_failures: u64,
    /// Records of revoked grants none of whose tokens can be live any more.
    pub revoked_grants: u64,
    /// Clients recorded for sessions that no longer exist.
    pub session_clients: u64,
    /// Logout notifications given up on longer ago than the retention.
    pub logout_notices: u64,
    /// Device authorizations expired longer ago than the retention.
    pub device_codes: u64,
    /// Single-use values past their expiry.
    pub seen_values: u64,
    /// Pushed authorization requests past their expiry.
    pub pushed_requests: u64,
    /// Initial access tokens expired or used up.
    pub initial_access_tokens: u64,
}

impl CleanupReport {
    /// Rows deleted in all.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.codes
            + self.access_tokens
            + self.refresh_tokens
            + self.sessions
            + self.interactions
            + self.login_failures
            + self.revoked_grants
            + self.session_clients
            + self.logout_notices
            + self.device_codes
            + self.seen_values
            + self.pushed_requests
    }
}

/// A signing key. The private key is stored as PKCS#8 DER.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// PKCS#8 private key.
    pub private_der: Vec<u8>,
    /// Creation time.
    pub created_at: UnixTime,
    /// When it starts signing (it is published from creation, so caches know it by then).
    pub activates_at: UnixTime,
    /// When it leaves the JWKS: set at rotation to when the last token it signed expires.
    pub retires_at: Option<UnixTime>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The answer to a login attempt reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The password may be verified.
    Allowed,
    /// As many attempts as the threshold allows are being verified right now; try again shortly
    /// (the account is not locked: they may all succeed).
    Busy,
    /// The account is locked until then; the password must not be verified.
    Locked(UnixTime),
}

/// A unique name for one login attempt (the reservation statement records it when it grants the
/// place, which is how the caller learns it did).
#[must_use]
pub fn attempt_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads the reservation statement's answer.
#[must_use]
pub fn attempt_outcome(granted: bool, locked_until: Option<i64>, now: UnixTime) -> LoginAttempt {
    match locked_until.filter(|t| *t > now.0) {
        Some(t) => LoginAttempt::Locked(UnixTime(t)),
        None if granted => LoginAttempt::Allowed,
        None => LoginAttempt::Busy,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_debug_never_shows_the_password_hash() {
        let u = super::UserRecord {
            id: "u1".into(),
            username: "alice".into(),
            email: None,
            email_verified: false,
            name: None,
            password_hash: "$argon2id$v=19$secret".into(),
            locked: false,
            created_at: gatehouse_protocol::types::UnixTime(0),
            updated_at: gatehouse_protocol::types::UnixTime(0),
        };
        let shown = format!("{u:?}");
        assert!(!shown.contains("argon2") && shown.contains("alice"), "{shown}");
    }
}

/// Applied and pending schema migrations of a store, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Applied, in order.
    pub applied: Vec<String>,
    /// Not yet applied, in order.
    pub pending: Vec<String>,
}
