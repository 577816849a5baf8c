//! The login page (`/login`) of a pending interaction: the form, and its submission checked
//! against every defence (rate limits, the Argon2 queue, the account lockout) before the password
//! is verified. A success starts a browser session and continues the flow.

use crate::http::cookies;
use crate::http::error::{PageError, login_refused};
use crate::http::pages::{self, LoginPage};
use crate::interaction::{Back, after_login, fresh_csrf, open, submitted};
use crate::logout::Initiator;
use crate::metrics::METRICS;
use crate::passwords;
use crate::protect::Limit;
use crate::random::{random_b64, random_token};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::types::{TokenHash, UnixTime};
use gatehouse_storage::{
    BrowserSession, ClientRecord, Interaction, InteractionLogin, LoginAttempt, SessionEnd, StoreError, UserRecord,
};

/// `GET /login?interaction=ID`.
///
/// # Errors
/// An error page when the interaction is gone or not this browser's, or the store fails.
pub async fn login_page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let (interaction, client) = open(&state, &req, now).await?;
    let username = interaction.request.login_hint.clone().unwrap_or_default();
    render_login(&state, &interaction, &client, &username, None).await
}

/// `POST /login`.
///
/// # Errors
/// An error page when the form fails its checks, a limit refuses the sign-in, or the store fails;
/// a wrong password gets the form again.
pub async fn login_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let (form, interaction, client) = submitted(&state, &req, &body, now).await?;
    let username = form.get("username").ok().flatten().unwrap_or("").trim().to_owned();
    let password = form.get("password").ok().flatten().unwrap_or("").to_owned();
    let user = match check_password(&state, &req, &client, &username, password).await {
        Ok(user) => user,
        Err(Refusal::Page(e)) => return Err(e),
        Err(Refusal::Form(message)) => {
            return render_login(&state, &interaction, &client, &username, Some(message)).await;
        }
    };
    METRICS.logins.with_label_values(&["success"]).inc();
    tracing::info!(target: "gatehouse::audit", event = "login.success", client_id = %client.id, sub = %user.id);
    let (login, cookie) = start_session(&state, &req, &interaction, user.id, now).await?;
    let back = Back::of(&interaction.request);
    let mut res = after_login(
        &state,
        &req,
        &client,
        interaction.request,
        login,
        Some(&interaction.id),
        now,
    )
    .await
    .unwrap_or_else(|e| back.error(&state.issuer, &e));
    cookies::set(
        &mut res,
        cookies::Kind::Session,
        cookie,
        state.config.session_ttl,
        state.secure_cookies,
    );
    Ok(res)
}

/// Starts the browser's session for `user_id` under a new cookie and records the sign-in on the
/// interaction. Returns the login and the new session cookie's value.
///
/// The cookie always changes (no session fixation). When the browser already had a session of
/// the same user, it keeps its `sid`, so the clients that know that sid still hear of its end;
/// a session of another user ends, and its clients are told (back-channel logout).
async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    interaction: &Interaction,
    user_id: String,
    now: UnixTime,
) -> Result<(InteractionLogin, String), PageError> {
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
    let login = InteractionLogin {
        user_id,
        auth_time: now,
        sid: session.sid.clone(),
    };
    if !state.store.set_interaction_login(&interaction.id, &login).await? {
        return Err(PageError::Expired);
    }
    Ok((login, cookie))
}

/// Why a sign-in did not get through: an error page (rate limit, overload, store failure), or the
/// form again with a message.
enum Refusal {
    Page(PageError),
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
async fn check_password(
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

async fn render_login(
    state: &AppState,
    interaction: &Interaction,
    client: &ClientRecord,
    username: &str,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let csrf = fresh_csrf(state, interaction).await?;
    let page = LoginPage {
        client_name: &client.name,
        interaction: &interaction.id,
        csrf_token: &csrf,
        username,
        error,
    };
    let redirect_to = interaction.request.redirect.uri.as_str();
    if error.is_some() {
        return login_refused(&page, redirect_to);
    }
    Ok(pages::render(&page, StatusCode::OK, Some(redirect_to))?)
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
