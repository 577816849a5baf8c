//! Signing in with a password, shared by the pages that take one (`/login`, `/device`): every
//! defence (rate limits, the Argon2 queue, the account lockout) is checked before the password is
//! verified, and a success starts the browser session.

use crate::http::cookies;
use crate::http::error::PageError;
use crate::logout::Initiator;
use crate::metrics::METRICS;
use crate::passwords;
use crate::protect::Limit;
use crate::random::{random_b64, random_token};
use crate::state::AppState;
use actix_web::HttpRequest;
use gatehouse_protocol::types::{TokenHash, UnixTime};
use gatehouse_storage::{BrowserSession, ClientRecord, LoginAttempt, SessionEnd, StoreError, UserRecord};

/// Starts the browser's session for `user_id` under a new cookie. Returns the session and the
/// cookie's value, for the caller to set.
///
/// The cookie always changes (no session fixation). When the browser already had a session of
/// the same user, it keeps its `sid`, so the clients that know that sid still hear of its end;
/// a session of another user ends, and its clients are told (back-channel logout).
pub(crate) async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user_id: String,
    now: UnixTime,
) -> Result<(BrowserSession, String), PageError> {
    let cookie = random_token();
    let mut session = BrowserSession {
        token_hash: TokenHash::of(&cookie),
        sid: random_b64(16),
        user_id: user_id.clone(),
        auth_time: now,
        expires_at: now.plus(state.config.session_ttl.as_secs()),
    };
    let old = cookies::value(req, cookies::Kind::Session, state.secure_cookies).map(|c| TokenHash::of(&c));
    let previous = match &old {
        Some(h) => state.store.find_session(h, now).await?,
        None => None,
    };
    match (&old, previous) {
        (Some(old), Some(p)) if p.user_id == user_id && state.store.renew_session(old, &session).await? => {
            session.sid = p.sid;
        }
        (Some(old), Some(_)) => {
            let keys = state.keys();
            state
                .backchannel
                .end(&keys, SessionEnd::Cookie(old), Initiator::SignedInAsOther, now)
                .await?;
            state.store.put_session(&session).await?;
        }
        _ => state.store.put_session(&session).await?,
    }
    Ok((session, cookie))
}

/// Why a sign-in did not get through: an error page (rate limit, overload, store failure), or the
/// form again with a message.
pub(crate) enum Refusal {
    /// An error page.
    Page(PageError),
    /// The form again, with this message.
    Form(&'static str),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Page(e.into())
    }
}

/// Most password verifications one account, or one address, may have running at once (per
/// instance): a guard on the Argon2 queue, not on guessing (the store's attempt reservation bounds
/// guesses, cluster-wide). Sized so a shared or load-test account signing in from several places
/// at once, or an office behind one address, is never refused.
const IN_FLIGHT_PER_ACCOUNT: u32 = 16;
const IN_FLIGHT_PER_ADDRESS: u32 = 64;
/// How long a sign-in waits for one of its account's attempt places before it is refused (429).
const RESERVATION_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Checks a username and password against every defence, in an order that cannot be raced: the
/// attempt is counted (per address and, atomically in the store, per account) *before* Argon2
/// runs, so a burst of concurrent guesses gets no more verifications than the limits allow. A
/// success takes its reservation back; a success that started before a lock never lifts it.
///
/// The attempt's store calls read the clock themselves rather than take the request's `now`: the
/// reservation may wait for a place and the verification for the Argon2 queue, and the lockout
/// window is measured from when each step really happens.
pub(crate) async fn check_password(
    state: &AppState,
    req: &HttpRequest,
    client: &ClientRecord,
    username: &str,
    password: String,
) -> Result<UserRecord, Refusal> {
    let ip = crate::protect::address_key(crate::protect::client_ip(req, &state.config.trusted_proxies));
    let limiters = &state.limiters;
    for limiter in [&limiters.login_requests, &limiters.login_failures_per_ip] {
        if let Some(retry_after) = limiter.hit(&ip) {
            METRICS.rate_limited.with_label_values(&[limiter.name()]).inc();
            METRICS.logins.with_label_values(&["rate_limited"]).inc();
            return Err(too_many(retry_after, TOO_MANY_FAILED));
        }
    }
    let in_flight = &limiters.logins_in_flight;
    let (Some(_by_account), Some(_by_address)) = (
        in_flight.enter(&format!("user:{username}"), IN_FLIGHT_PER_ACCOUNT),
        in_flight.enter(&format!("ip:{ip}"), IN_FLIGHT_PER_ADDRESS),
    ) else {
        return Err(in_progress(state, &ip));
    };
    // The queue place comes before the attempt is counted: an overloaded server refuses the
    // sign-in (503) without spending one of the account's attempts.
    let Ok(slot) = passwords::enter_queue() else {
        limiters.login_failures_per_ip.release(&ip);
        METRICS.logins.with_label_values(&["overloaded"]).inc();
        return Err(Refusal::Page(PageError::Busy));
    };
    let mut reservation = reserve(state, client, username, &ip).await?;
    let user = state.store.find_user_by_username(username).await?;
    // Verify against a dummy hash for unknown users, so timing does not reveal which names exist.
    let hash = user
        .as_ref()
        .map_or_else(|| state.dummy_password_hash.clone(), |u| u.password_hash.clone());
    let verified = passwords::verify_in(slot, password, hash).await;
    match user {
        Some(user) if verified => succeeded(state, client, username, &ip, reservation.as_mut(), user).await,
        _ => failed(state, client, username, reservation.as_mut()).await,
    }
}

/// With a lockout configured, reserves one of the account's attempt places in the store. As many
/// attempts as the lockout allows may be verified at once for one account; a further one waits
/// for a place (they may all be right: a shared account signing in from several places), and
/// only a lock refuses it. The loop reads the clock on each try, as it may wait for seconds.
async fn reserve(
    state: &AppState,
    client: &ClientRecord,
    username: &str,
    ip: &str,
) -> Result<Option<Reservation>, Refusal> {
    let Some(lockout) = state.config.lockout else {
        return Ok(None);
    };
    let deadline = std::time::Instant::now() + RESERVATION_WAIT;
    loop {
        let reserved = state
            .store
            .reserve_login_attempt(username, state.clock.now(), lockout.window.as_secs(), lockout.count)
            .await?;
        match reserved {
            LoginAttempt::Allowed => return Ok(Some(Reservation::new(state, username, lockout))),
            LoginAttempt::Locked(_) => {
                METRICS.logins.with_label_values(&["locked"]).inc();
                tracing::info!(target: "gatehouse::audit", event = "login.failure", client_id = %client.id, reason = "temporarily_locked");
                return Err(Refusal::Form(LOCKED));
            }
            LoginAttempt::Busy if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            LoginAttempt::Busy => return Err(in_progress(state, ip)),
        }
    }
}

/// The password was right: the address's failure is taken back, and so is the account's attempt
/// place. An account an administrator locked is refused only now, to someone who knows the
/// password, where it reveals nothing to a guesser.
async fn succeeded(
    state: &AppState,
    client: &ClientRecord,
    username: &str,
    ip: &str,
    reservation: Option<&mut Reservation>,
    user: UserRecord,
) -> Result<UserRecord, Refusal> {
    state.limiters.login_failures_per_ip.release(ip);
    if let Some(r) = reservation {
        r.done = true;
        state.store.release_login_attempts(username, state.clock.now()).await?;
    }
    if user.locked {
        METRICS.logins.with_label_values(&["failure"]).inc();
        tracing::info!(target: "gatehouse::audit", event = "login.failure", client_id = %client.id, sub = %user.id, reason = "disabled");
        return Err(Refusal::Form(
            "This account is locked by an administrator. Contact your administrator.",
        ));
    }
    Ok(user)
}

/// The username or password was wrong: with a lockout, the reserved attempt counts as a failure,
/// which may lock the account.
async fn failed(
    state: &AppState,
    client: &ClientRecord,
    username: &str,
    reservation: Option<&mut Reservation>,
) -> Result<UserRecord, Refusal> {
    METRICS.logins.with_label_values(&["failure"]).inc();
    tracing::info!(target: "gatehouse::audit", event = "login.failure", client_id = %client.id, reason = "bad_credentials");
    let (Some(lockout), Some(r)) = (state.config.lockout, reservation) else {
        return Err(Refusal::Form(WRONG));
    };
    r.done = true;
    let locked = state
        .store
        .record_login_failure(username, state.clock.now(), lockout.window.as_secs(), lockout.count)
        .await?;
    if locked.is_some() {
        METRICS.lockouts.inc();
        tracing::warn!(target: "gatehouse::audit", event = "login.lockout", client_id = %client.id, window_seconds = lockout.window.as_secs());
        return Err(Refusal::Form(LOCKED));
    }
    Err(Refusal::Form(WRONG))
}

/// A granted attempt place that must end as a failure or a success. If the sign-in is abandoned
/// on the way (the browser gives up, a store call fails), dropping it records a failure, so places
/// are never left taken (that would make the account busy for the rest of the window).
struct Reservation {
    store: std::sync::Arc<dyn gatehouse_storage::Store>,
    username: String,
    lockout: Limit,
    done: bool,
}

impl Reservation {
    fn new(state: &AppState, username: &str, lockout: Limit) -> Self {
        Self {
            store: std::sync::Arc::clone(&state.store),
            username: username.to_owned(),
            lockout,
            done: false,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (store, username, lockout) = (
            std::sync::Arc::clone(&self.store),
            std::mem::take(&mut self.username),
            self.lockout,
        );
        // The system clock: a drop has no request (and no state) to read one from.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = store
                    .record_login_failure(
                        &username,
                        crate::clock::system_now(),
                        lockout.window.as_secs(),
                        lockout.count,
                    )
                    .await;
            });
        }
    }
}

/// Refused because too many sign-ins to this account or from this address are being checked: the
/// address's failure is taken back, as nothing was verified.
fn in_progress(state: &AppState, ip: &str) -> Refusal {
    state.limiters.login_failures_per_ip.release(ip);
    METRICS.logins.with_label_values(&["rate_limited"]).inc();
    too_many(1, IN_PROGRESS)
}

fn too_many(retry_after: u64, message: &'static str) -> Refusal {
    Refusal::Page(PageError::TooMany { retry_after, message })
}

const WRONG: &str = "Wrong username or password.";

const LOCKED: &str = "This account is temporarily locked after too many failed sign-ins. Try again later, or ask your administrator to unlock it.";

const TOO_MANY_FAILED: &str = "Too many sign-ins came from this address. Wait a few minutes and try again.";

const IN_PROGRESS: &str = "Too many sign-ins to this account, or from this address, are being checked right now. Wait a moment and try again.";
