//! The store contracts. Each method is atomic on its own; transactions never cross a method.
//! Methods that depend on time take `now`, so that the conformance suite controls the clock.

use crate::error::StoreError;
use crate::model::*;
use async_trait::async_trait;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::types::{ClientId, ScopeSet, TokenHash, UnixTime};

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Registered clients.
#[async_trait]
pub trait Clients: Send + Sync {
    /// Adds a client. `Conflict` if the id exists.
    async fn create_client(&self, client: &ClientRecord) -> StoreResult<()>;
    /// The client with this id.
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<ClientRecord>>;
    /// Every client, ordered by id.
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;
    /// Replaces a client's registration. `false` if it does not exist.
    async fn update_client(&self, client: &ClientRecord) -> StoreResult<bool>;
    /// Deletes a client and, in the same transaction, its codes, tokens and consents.
    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool>;
}

/// End users.
#[async_trait]
pub trait Users: Send + Sync {
    /// Adds a user. `Conflict` if the username exists.
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// By subject id.
    async fn find_user(&self, id: &str) -> StoreResult<Option<UserRecord>>;
    /// By login name.
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Every user, ordered by username.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Replaces a user's record. `false` if it does not exist.
    async fn update_user(&self, user: &UserRecord) -> StoreResult<bool>;
    /// Deletes a user and, in the same transaction, their sessions, consents and tokens.
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;
}

/// The scope registry.
#[async_trait]
pub trait Scopes: Send + Sync {
    /// Adds a scope. `Conflict` if it exists.
    async fn create_scope(&self, scope: &ScopeRecord) -> StoreResult<()>;
    /// Every scope, built-ins included, ordered by name.
    async fn list_scopes(&self) -> StoreResult<Vec<ScopeRecord>>;
    /// Deletes a non-built-in scope. `false` if absent or built in.
    async fn delete_scope(&self, name: &str) -> StoreResult<bool>;
}

/// Remembered consent, per user and client.
#[async_trait]
pub trait Consents: Send + Sync {
    /// The scopes this user has consented to for this client.
    async fn find_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<Option<ScopeSet>>;
    /// Every consent: `(user_id, client_id, scope, granted_at)`, for export.
    async fn list_consents(&self) -> StoreResult<Vec<(String, ClientId, ScopeSet, UnixTime)>>;
    /// Records consent to `scope`, adding to what was consented before.
    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()>;
}

/// Browser sessions and pending interactions.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Stores a new browser session.
    async fn put_session(&self, session: &BrowserSession) -> StoreResult<()>;
    /// The live session with this cookie hash.
    async fn find_session(&self, token_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<BrowserSession>>;
    /// Ends a session without telling anyone (it is being replaced, or was never used).
    async fn delete_session(&self, token_hash: &TokenHash) -> StoreResult<()>;
    /// The same user signed in again in this browser: the live session of `old` takes the new
    /// cookie hash, auth time and expiry of `renewed` and keeps its `sid`, so the clients that
    /// know the sid hear of its end. `false` if `old` is not a live session of `renewed.user_id`.
    async fn renew_session(&self, old: &TokenHash, renewed: &BrowserSession) -> StoreResult<bool>;
    /// Stores a new interaction.
    async fn put_interaction(&self, interaction: &Interaction) -> StoreResult<()>;
    /// The live interaction with this id.
    async fn find_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>>;
    /// Replaces the CSRF token hash of a live interaction (each rendered form gets a fresh token).
    /// `false` if it is gone.
    async fn set_interaction_csrf(&self, id: &str, csrf_hash: &TokenHash) -> StoreResult<bool>;
    /// Records the login of a live interaction. `false` if it is gone.
    async fn set_interaction_login(&self, id: &str, login: &InteractionLogin) -> StoreResult<bool>;
    /// Atomically removes a live interaction and returns it: exactly one caller gets it.
    async fn take_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>>;
}

/// Authorization codes.
#[async_trait]
pub trait Codes: Send + Sync {
    /// Stores a code by hash and records, for the grant's browser session, that its client
    /// received a code at `now` (so it is notified when the session ends).
    async fn put_code(&self, hash: &TokenHash, grant: &CodeGrant, now: UnixTime) -> StoreResult<()>;
    /// Reads a code without consuming it: the grant and whether it was consumed already.
    /// Expired codes are not found unless they were consumed: a consumed code stays findable (until
    /// cleanup, after the revoked-row retention) so that a replay after expiry is still detected.
    async fn find_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<(CodeGrant, bool)>>;
    /// Atomically consumes a code. Exactly one concurrent caller gets `Fresh`; later ones get
    /// `Replayed` so they can revoke the grant's tokens (RFC 6749 §4.1.2).
    async fn take_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Taken>;
}

/// Access and refresh tokens.
#[async_trait]
pub trait Tokens: Send + Sync {
    /// Stores an access token.
    async fn put_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()>;
    /// The live (unexpired, unrevoked) access token with this hash.
    async fn find_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<AccessTokenRecord>>;
    /// Whether a JWT access token, which is never stored (`token` is read from its claims, with
    /// `hash` the hash of its `jti`), was revoked after it was issued (`issued_ms`, the system
    /// clock in milliseconds): by [`Self::revoke_jwt_access_token`], by its grant's revocation,
    /// by its user's tokens ending (lockout, password change, `user end-sessions`), or by its
    /// user or client being deleted.
    async fn jwt_access_revoked(&self, token: &AccessTokenRecord, issued_ms: i64) -> StoreResult<bool>;
    /// Revokes a JWT access token by the hash of its `jti`; the record is kept until the token
    /// would have expired (`expires_at`).
    async fn revoke_jwt_access_token(&self, hash: &TokenHash, expires_at: UnixTime) -> StoreResult<()>;
    /// Stores a refresh token.
    async fn put_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    /// Atomically rotates a live refresh token into a successor that continues it (see
    /// [`Successor`]: same family, same family expiry, everything but the value and idle expiry
    /// copied). A token rotated before revokes its whole family and reports `Reused`, unless it was
    /// rotated less than `grace_seconds` ago and its successor is live: then `Retried` with the
    /// successor.
    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        successor: Successor,
        now: UnixTime,
        grace_seconds: u64,
    ) -> StoreResult<Rotation>;
    /// Revokes one access token if it belongs to `client_id`. `true` if it was live.
    async fn revoke_access_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool>;
    /// Revokes the family of a refresh token (and the family's access tokens) if the token belongs
    /// to `client_id`, rotated or not (RFC 7009 §2.1). `true` if something was revoked.
    async fn revoke_refresh_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool>;
    /// Deletes expired codes, sessions and interactions, and tokens that expired or were revoked
    /// before `revoked_before`, at most `batch` rows per statement, until none are left.
    async fn cleanup(&self, now: UnixTime, revoked_before: UnixTime, batch: u32) -> StoreResult<CleanupReport>;
    /// The live refresh token with this hash.
    async fn find_refresh_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>>;
    /// Every live refresh token (not rotated, revoked or expired), for export.
    async fn list_refresh_tokens(&self, now: UnixTime) -> StoreResult<Vec<RefreshTokenRecord>>;
    /// Revokes every access and refresh token of an authorization grant, in one transaction.
    /// Returns how many tokens were revoked.
    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> StoreResult<u64>;
}

/// Ending browser sessions, and the outbox of back-channel logout notifications.
#[async_trait]
pub trait Logouts: Send + Sync {
    /// Ends the live sessions `end` selects, in one transaction: a notification for every client
    /// with a `backchannel_logout_uri` that received a code in them is queued (claimed by the
    /// caller until `due`, so it can deliver them at once), their client records go, and the
    /// session rows go. For a cookie or a sid, the session's refresh families without
    /// `offline_access` are revoked and its codes not yet exchanged deleted; for a user, every
    /// token the user holds is revoked. `by` (who ended them) is recorded on the notifications.
    async fn end_sessions(
        &self,
        end: SessionEnd<'_>,
        by: &str,
        now: UnixTime,
        due: UnixTime,
    ) -> StoreResult<EndedSessions>;
    /// Live sessions, of one user or of all, oldest sign-in first, with their clients.
    async fn list_sessions(&self, user_id: Option<&str>, now: UnixTime) -> StoreResult<Vec<SessionSummary>>;
    /// Claims up to `limit` due notifications until `claim_until` (an instance that claimed one
    /// and died leaves it due again then). Two instances never claim the same notification at
    /// once.
    async fn claim_notices(&self, now: UnixTime, claim_until: UnixTime, limit: u32) -> StoreResult<Vec<LogoutNotice>>;
    /// Records how a delivery attempt ended.
    async fn settle_notice(&self, id: &str, outcome: &NoticeOutcome) -> StoreResult<()>;
    /// Every notification in the outbox (pending and given up), oldest first.
    async fn list_notices(&self) -> StoreResult<Vec<LogoutNotice>>;
}

/// Device authorizations (RFC 8628).
#[async_trait]
pub trait Devices: Send + Sync {
    /// Stores a new device authorization. `Conflict` when its user code is taken (draw another).
    async fn put_device(&self, device: &DeviceRecord) -> StoreResult<()>;
    /// The live authorization nobody has decided yet with this user code.
    async fn find_pending_device(&self, user_code: &str, now: UnixTime) -> StoreResult<Option<DeviceRecord>>;
    /// Records the user's decision on a live pending authorization. `false` when it is no longer
    /// pending or live (decided already, expired): exactly one decision counts.
    async fn decide_device(&self, user_code: &str, decision: &DeviceDecision, now: UnixTime) -> StoreResult<bool>;
    /// One poll by the device (RFC 8628 §3.4, §3.5), in one atomic statement: records the poll,
    /// reports whether it came sooner than the interval after the previous one (and then adds 5
    /// seconds to the interval for good), and redeems an approved, live authorization (exactly
    /// one poll gets `Redeemed`). `None` for an unknown or redeemed code, or another client's.
    async fn poll_device(
        &self,
        hash: &TokenHash,
        client_id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<Option<DevicePoll>>;
    /// Live authorizations nobody has decided yet, oldest first.
    async fn list_pending_devices(&self, now: UnixTime) -> StoreResult<Vec<DeviceRecord>>;
    /// Counts a wrong user code typed from `address`, in fixed windows of `window_seconds` (a new
    /// one starts once the last is over). Returns the wrong codes of the current window and when
    /// it started.
    async fn count_wrong_device_code(
        &self,
        address: &str,
        now: UnixTime,
        window_seconds: u64,
    ) -> StoreResult<(u32, UnixTime)>;
    /// The wrong user codes from `address` in its current window, and when it started; `None` when
    /// none were counted (or the window is over).
    async fn wrong_device_codes(
        &self,
        address: &str,
        now: UnixTime,
        window_seconds: u64,
    ) -> StoreResult<Option<(u32, UnixTime)>>;
}

/// Values that may be used once (client assertion `jti`s; DPoP proofs later), shared by every
/// instance.
#[async_trait]
pub trait Replays: Send + Sync {
    /// Records a single-use value (a client assertion's `jti`) of `purpose` until `expires_at`, in
    /// one atomic statement: `true` the first time, `false` while it is remembered (a replay), on
    /// every instance.
    async fn first_use(
        &self,
        purpose: &str,
        hash: &TokenHash,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool>;
}

/// What clients send besides credentials: pushed authorization requests and the record of their
/// `jwks_uri` fetches.
#[async_trait]
pub trait Intake: Send + Sync {
    /// Stores a pushed authorization request. `Conflict` if its hash exists.
    async fn push_request(&self, request: &PushedRequest) -> StoreResult<()>;
    /// The pushed request with this hash, unless it has expired.
    async fn find_pushed_request(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<PushedRequest>>;
    /// Records a fetch of a client's `jwks_uri` (a failed one keeps the last good key ids).
    async fn record_jwks_fetch(&self, fetch: &JwksFetch) -> StoreResult<()>;
    /// The last fetch of the client's `jwks_uri`.
    async fn last_jwks_fetch(&self, client_id: &ClientId) -> StoreResult<Option<JwksFetch>>;
}

/// Clients that register themselves (RFC 7591/7592) or are described by a metadata document.
#[async_trait]
pub trait Registrations: Send + Sync {
    /// Stores an initial access token. `Conflict` if its hash exists.
    async fn put_initial_access_token(&self, token: &InitialAccessToken) -> StoreResult<()>;
    /// The policy of a live initial access token with a use left, without using it.
    async fn find_initial_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<String>>;
    /// Uses an initial access token once, atomically across instances: the policy it grants if
    /// it was live with a use left.
    async fn use_initial_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<String>>;
    /// Replaces a client's registration like [`Clients::update_client`], only while it still
    /// holds the registration access token `expected` (if given: two replacements with one token
    /// cannot both succeed); with `forget_consents`, every user's remembered consent to it goes in
    /// the same transaction (what the client shows of itself changed, so users decide again).
    /// `false` if it does not exist or no longer holds the token.
    async fn replace_client(
        &self,
        client: &ClientRecord,
        forget_consents: bool,
        expected: Option<&TokenHash>,
    ) -> StoreResult<bool>;
    /// Records a use of a client at `now` unless one after `unless_after` is recorded.
    async fn touch_client(&self, id: &ClientId, now: UnixTime, unless_after: UnixTime) -> StoreResult<()>;
    /// Self-registered clients last used (or, never used, created) before `idle_before`, at most
    /// `batch` of them.
    async fn idle_clients(&self, idle_before: UnixTime, batch: u32) -> StoreResult<Vec<ClientId>>;
}

/// Signing keys.
#[async_trait]
pub trait Keys: Send + Sync {
    /// Every key, oldest first.
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a key.
    async fn put_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Adds `key` and schedules every other key of its algorithm to retire at
    /// `retire_previous_at` (or earlier, if already scheduled), in one transaction. With
    /// `expected_newest`, does nothing and returns `false` unless that kid is the newest key of the
    /// algorithm (so instances rotating on a timer add one key between them).
    async fn rotate_key(
        &self,
        key: &SigningKeyRecord,
        expected_newest: Option<&str>,
        retire_previous_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Withdraws a key at `at` (earlier than any retirement already scheduled): from then on it is
    /// neither published nor used. `false` if no such key exists.
    async fn retire_key(&self, kid: &str, at: UnixTime) -> StoreResult<bool>;
    /// Replaces the stored private half of a key (re-encryption at rest). `false` if absent.
    async fn replace_key_material(&self, kid: &str, private_der: &[u8]) -> StoreResult<bool>;
    /// Replaces the stored value of a server secret (re-encryption at rest). `false` if absent.
    async fn replace_server_secret(&self, name: &str, value: &[u8]) -> StoreResult<bool>;
    /// The server secret called `name`, stored as `candidate` by the first instance that asks.
    async fn server_secret(&self, name: &str, candidate: &[u8], now: UnixTime) -> StoreResult<Vec<u8>>;
}

/// Login attempts and account lockout, shared by every instance.
///
/// Attempts are reserved *before* the password is verified, in one atomic statement, so a burst of
/// concurrent guesses cannot all pass a lock check made before any of them was counted.
#[async_trait]
pub trait Lockouts: Send + Sync {
    /// When the account is locked until, if it is locked now.
    async fn login_lock(&self, username: &str, now: UnixTime) -> StoreResult<Option<UnixTime>>;
    /// Reserves one login attempt before its password is verified, atomically (one statement): a
    /// lock in force refuses it (`Locked`); outside the window a new window starts; within it the
    /// attempt gets a place unless the failures so far plus the attempts being verified reach
    /// `threshold` (`Busy`: retry shortly). Only an `Allowed` attempt may verify the password, and
    /// it must end with [`Self::record_login_failure`] or [`Self::release_login_attempts`].
    async fn reserve_login_attempt(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<LoginAttempt>;
    /// A reserved attempt failed: it counts as a failure, and the `threshold`-th failure of the
    /// window locks the account for one window from `now`. Returns the lock's end if locked now.
    async fn record_login_failure(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<Option<UnixTime>>;
    /// A reserved attempt succeeded: its place is given back and the window's failures are
    /// forgotten, unless the account is locked now (a success that started before a lock never
    /// lifts it). Other attempts being verified keep their places.
    async fn release_login_attempts(&self, username: &str, now: UnixTime) -> StoreResult<()>;
    /// Forgets attempts and any lock (`gatehouse user unlock`).
    async fn clear_login_failures(&self, username: &str) -> StoreResult<()>;
}

/// Pool figures of a pooled backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections.
    pub size: usize,
    /// Connections in use.
    pub in_use: usize,
    /// Idle connections.
    pub idle: usize,
    /// The most the pool opens.
    pub max: usize,
    /// Client records and "not revoked" answers are cached (the cache listener hears its own
    /// heartbeat); `false`: every request reads the database (see `postgres/cache.rs`).
    pub caches_live: bool,
}

/// Everything a server needs.
#[async_trait]
pub trait Store:
    Clients
    + Users
    + Scopes
    + Consents
    + Sessions
    + Codes
    + Tokens
    + Keys
    + Lockouts
    + Logouts
    + Devices
    + Replays
    + Intake
    + Registrations
{
    /// `"sqlite"` or `"postgres"`.
    fn kind(&self) -> &'static str;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;
    /// Pool figures, for a pooled backend.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
    /// The database server's clock, in seconds since the epoch, where it has its own.
    async fn clock(&self) -> StoreResult<Option<f64>> {
        Ok(None)
    }
}
