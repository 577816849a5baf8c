//! The login (`/login`) and consent (`/consent`) pages of a pending interaction. Each form post is
//! checked three ways before anything else happens: the interaction exists and is live, the
//! browser holds the cookie it was bound to, and the CSRF token matches the one last rendered.

use super::authorize::{Back, after_login, issue_code, redirect_error, see_other, unavailable_page};
use crate::http::error::store_error;
use crate::http::pages::{ConsentPage, LoginPage, ScopeLine};
use crate::http::{cookies, pages, params};
use crate::metrics::METRICS;
use crate::passwords;
use crate::random::{random_b64, random_token};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::types::TokenHash;
use gatehouse_storage::{BrowserSession, ClientRecord, Interaction, InteractionLogin, LoginAttempt, UserRecord};

/// `GET /login?interaction=ID`.
pub async fn login_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (interaction, client) = match load(&state, &req, &params::query(&req), None).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let username = interaction.request.login_hint.clone().unwrap_or_default();
    render_login(&state, &interaction, &client, &username, None).await
}

/// `POST /login`.
pub async fn login_submit(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = params::form(&req, &body);
    let (interaction, client) = match load(&state, &req, &form, Some(())).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Ok(form) = form else { return bad_form() };
    let username = form.get("username").ok().flatten().unwrap_or("").trim().to_owned();
    let password = form.get("password").ok().flatten().unwrap_or("").to_owned();
    let user = match check_password(&state, &req, &client, &username, password).await {
        Ok(user) => user,
        Err(Refusal::Page(page)) => return page,
        Err(Refusal::Form(message)) => {
            return render_login(&state, &interaction, &client, &username, Some(message)).await;
        }
    };
    METRICS.logins.with_label_values(&["success"]).inc();
    tracing::info!(target: "gatehouse::audit", event = "login.success", client_id = %client.id, sub = %user.id);

    let now = state.clock.now();
    let cookie = random_token();
    let session = BrowserSession {
        token_hash: TokenHash::of(&cookie),
        sid: random_b64(16),
        user_id: user.id.clone(),
        auth_time: now,
        expires_at: now.plus(state.config.session_ttl.as_secs()),
    };
    if let Some(old) = cookies::value(&req, cookies::Kind::Session, state.secure_cookies) {
        let _ = state.store.delete_session(&TokenHash::of(&old)).await;
    }
    let login = InteractionLogin {
        user_id: user.id,
        auth_time: now,
        sid: session.sid.clone(),
    };
    let stored = async {
        state.store.put_session(&session).await?;
        state.store.set_interaction_login(&interaction.id, &login).await
    };
    match stored.await {
        Ok(true) => {}
        Ok(false) => return expired_page(),
        Err(e) => return unavailable_page(store_error(e)),
    }
    let back = Back::of(&interaction.request);
    let mut res = after_login(&state, &req, &client, interaction.request, login, Some(&interaction.id))
        .await
        .unwrap_or_else(|e| redirect_error(&state, &back, &e));
    let ttl = i64::try_from(state.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let _ = res.add_cookie(&cookies::build(
        cookies::Kind::Session,
        cookie,
        ttl,
        state.secure_cookies,
    ));
    res
}

/// `GET /consent?interaction=ID`.
pub async fn consent_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (interaction, client) = match load(&state, &req, &params::query(&req), None).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(login) = &interaction.login else {
        return see_other(&format!("{}/login?interaction={}", state.issuer, interaction.id));
    };
    let user = match state.store.find_user(&login.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return expired_page(),
        Err(e) => return unavailable_page(store_error(e)),
    };
    let registry = match state.store.list_scopes().await {
        Ok(r) => r,
        Err(e) => return unavailable_page(store_error(e)),
    };
    // Scopes asked for, and the scopes covering claims asked for individually: the user decides
    // on everything that will be released (OIDC Core §3.1.2.4).
    let scopes = interaction
        .request
        .consent_scope()
        .iter()
        .map(|s| ScopeLine {
            name: s.as_str().to_owned(),
            description: registry
                .iter()
                .find(|r| r.name == s.as_str())
                .map_or_else(|| s.as_str().to_owned(), |r| r.description.clone()),
        })
        .collect();
    let Some(csrf) = fresh_csrf(&state, &interaction).await else {
        return expired_page();
    };
    let page = ConsentPage {
        client_name: &client.name,
        username: &user.username,
        scopes,
        interaction: &interaction.id,
        csrf_token: &csrf,
    };
    pages::render(&page, StatusCode::OK, Some(interaction.request.redirect.uri.as_str()))
}

/// `POST /consent`.
pub async fn consent_submit(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = params::form(&req, &body);
    let (interaction, client) = match load(&state, &req, &form, Some(())).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Ok(form) = form else { return bad_form() };
    let Some(login) = interaction.login.clone() else {
        return expired_page();
    };
    // Atomic: a double submit or a second tab cannot turn one consent into two codes.
    match state.store.take_interaction(&interaction.id, state.clock.now()).await {
        Ok(Some(_)) => {}
        Ok(None) => return expired_page(),
        Err(e) => return unavailable_page(store_error(e)),
    }
    let back = Back::of(&interaction.request);
    let result = match form.get("decision").ok().flatten() {
        Some("allow") => {
            let request = &interaction.request;
            match state
                .store
                .grant_consent(&login.user_id, &client.id, &request.consent_scope(), state.clock.now())
                .await
            {
                Ok(()) => {
                    tracing::info!(target: "gatehouse::audit", event = "consent.granted", client_id = %client.id, sub = %login.user_id, scope = %request.consent_scope().to_param());
                    issue_code(&state, request, &login).await
                }
                Err(e) => Err(store_error(e)),
            }
        }
        _ => {
            tracing::info!(target: "gatehouse::audit", event = "consent.denied", client_id = %client.id, sub = %login.user_id);
            Err(Error::AccessDenied("the user denied the request".into()))
        }
    };
    result.unwrap_or_else(|e| redirect_error(&state, &back, &e))
}

/// Finds the interaction and its client and checks the browser binding; for a form post
/// (`post = Some(())`) also the CSRF token. Any failure is a finished error page.
async fn load(
    state: &AppState,
    req: &HttpRequest,
    params: &Result<Params, Error>,
    post: Option<()>,
) -> Result<(Interaction, ClientRecord), HttpResponse> {
    let params = params.as_ref().map_err(|_| bad_form())?;
    let id = params.get("interaction").ok().flatten().ok_or_else(expired_page)?;
    let interaction = match state.store.find_interaction(id, state.clock.now()).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(expired_page()),
        Err(e) => return Err(unavailable_page(store_error(e))),
    };
    let bound = cookies::value(req, cookies::Kind::Browser, state.secure_cookies)
        .is_some_and(|c| TokenHash::of(&c).ct_eq(&interaction.browser_hash));
    if !bound {
        return Err(forbidden_page());
    }
    if post.is_some() {
        let csrf_ok = params
            .get("csrf_token")
            .ok()
            .flatten()
            .is_some_and(|t| TokenHash::of(t).ct_eq(&interaction.csrf_hash));
        if !csrf_ok {
            return Err(forbidden_page());
        }
    }
    let client = match state.store.find_client(&interaction.request.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(expired_page()),
        Err(e) => return Err(unavailable_page(store_error(e))),
    };
    Ok((interaction, client))
}

/// Why a sign-in did not get through: a finished page (rate limit, overload, store failure), or the
/// form again with a message.
enum Refusal {
    Page(HttpResponse),
    Form(&'static str),
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
            return Err(Refusal::Page(too_many(retry_after, TOO_MANY_FAILED)));
        }
    }
    let in_flight = &limiters.logins_in_flight;
    let (Some(_by_account), Some(_by_address)) = (
        in_flight.enter(&format!("user:{username}"), IN_FLIGHT_PER_ACCOUNT),
        in_flight.enter(&format!("ip:{ip}"), IN_FLIGHT_PER_ADDRESS),
    ) else {
        limiters.login_failures_per_ip.release(&ip);
        METRICS.logins.with_label_values(&["rate_limited"]).inc();
        return Err(Refusal::Page(too_many(1, IN_PROGRESS)));
    };
    let store_failed = |e| Refusal::Page(unavailable_page(store_error(e)));
    // The queue place comes before the attempt is counted: an overloaded server refuses the
    // sign-in (503) without spending one of the account's attempts.
    let Ok(slot) = passwords::enter_queue() else {
        limiters.login_failures_per_ip.release(&ip);
        METRICS.logins.with_label_values(&["overloaded"]).inc();
        return Err(Refusal::Page(busy()));
    };
    let mut reservation = None;
    if let Some(lockout) = state.config.lockout {
        // As many attempts as the lockout allows may be verified at once for one account; a
        // further one waits for a place (they may all be right: a shared account signing in from
        // several places), and only a lock refuses it.
        let deadline = std::time::Instant::now() + RESERVATION_WAIT;
        loop {
            let reserved = state
                .store
                .reserve_login_attempt(username, state.clock.now(), lockout.window.as_secs(), lockout.count)
                .await
                .map_err(store_failed)?;
            match reserved {
                LoginAttempt::Allowed => {
                    reservation = Some(Reservation::new(state, username, lockout));
                    break;
                }
                LoginAttempt::Locked(_) => {
                    METRICS.logins.with_label_values(&["locked"]).inc();
                    tracing::info!(target: "gatehouse::audit", event = "login.failure", client_id = %client.id, reason = "temporarily_locked");
                    return Err(Refusal::Form(LOCKED));
                }
                LoginAttempt::Busy if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                LoginAttempt::Busy => {
                    limiters.login_failures_per_ip.release(&ip);
                    METRICS.logins.with_label_values(&["rate_limited"]).inc();
                    return Err(Refusal::Page(too_many(1, IN_PROGRESS)));
                }
            }
        }
    }
    let user = state
        .store
        .find_user_by_username(username)
        .await
        .map_err(store_failed)?;
    // Verify against a dummy hash for unknown users, so timing does not reveal which names exist.
    let hash = user
        .as_ref()
        .map_or_else(|| state.dummy_password_hash.clone(), |u| u.password_hash.clone());
    let verified = passwords::verify_in(slot, password, hash).await;
    match user {
        Some(user) if verified => {
            limiters.login_failures_per_ip.release(&ip);
            if let Some(r) = reservation.as_mut() {
                r.done = true;
                state
                    .store
                    .release_login_attempts(username, state.clock.now())
                    .await
                    .map_err(store_failed)?;
            }
            if user.locked {
                // Said only to someone who knows the password: it reveals nothing to a guesser.
                METRICS.logins.with_label_values(&["failure"]).inc();
                tracing::info!(target: "gatehouse::audit", event = "login.failure", client_id = %client.id, sub = %user.id, reason = "disabled");
                return Err(Refusal::Form(
                    "This account is locked by an administrator. Contact your administrator.",
                ));
            }
            Ok(user)
        }
        _ => {
            METRICS.logins.with_label_values(&["failure"]).inc();
            tracing::info!(target: "gatehouse::audit", event = "login.failure", client_id = %client.id, reason = "bad_credentials");
            let (Some(lockout), Some(r)) = (state.config.lockout, reservation.as_mut()) else {
                return Err(Refusal::Form(WRONG));
            };
            r.done = true;
            let locked = state
                .store
                .record_login_failure(username, state.clock.now(), lockout.window.as_secs(), lockout.count)
                .await
                .map_err(store_failed)?;
            if locked.is_some() {
                METRICS.lockouts.inc();
                tracing::warn!(target: "gatehouse::audit", event = "login.lockout", client_id = %client.id, window_seconds = lockout.window.as_secs());
                return Err(Refusal::Form(LOCKED));
            }
            Err(Refusal::Form(WRONG))
        }
    }
}

/// A granted attempt place that must end as a failure or a success. If the sign-in is abandoned
/// on the way (the browser gives up, a store call fails), dropping it records a failure, so places
/// are never left taken (that would make the account busy for the rest of the window).
struct Reservation {
    store: std::sync::Arc<dyn gatehouse_storage::Store>,
    username: String,
    lockout: crate::protect::Limit,
    done: bool,
}

impl Reservation {
    fn new(state: &AppState, username: &str, lockout: crate::protect::Limit) -> Self {
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
) -> HttpResponse {
    let Some(csrf) = fresh_csrf(state, interaction).await else {
        return expired_page();
    };
    let page = LoginPage {
        client_name: &client.name,
        interaction: &interaction.id,
        csrf_token: &csrf,
        username,
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    pages::render(&page, status, Some(interaction.request.redirect.uri.as_str()))
}

/// A new CSRF token for a form about to be rendered; its hash replaces the previous one.
async fn fresh_csrf(state: &AppState, interaction: &Interaction) -> Option<String> {
    let token = random_token();
    match state
        .store
        .set_interaction_csrf(&interaction.id, &TokenHash::of(&token))
        .await
    {
        Ok(true) => Some(token),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not store a CSRF token");
            None
        }
    }
}

const WRONG: &str = "Wrong username or password.";

const LOCKED: &str = "This account is temporarily locked after too many failed sign-ins. Try again later, or ask your administrator to unlock it.";

const TOO_MANY_FAILED: &str = "Too many sign-ins came from this address. Wait a few minutes and try again.";

const IN_PROGRESS: &str = "Too many sign-ins to this account, or from this address, are being checked right now. Wait a moment and try again.";

fn too_many(retry_after: u64, message: &str) -> HttpResponse {
    let mut res = pages::error(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", message, None);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&retry_after.to_string()) {
        res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
    }
    res
}

fn busy() -> HttpResponse {
    let mut res = pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too busy",
        "The server is checking many sign-ins right now. Wait a moment and try again.",
        None,
    );
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("1"),
    );
    res
}

fn bad_form() -> HttpResponse {
    pages::error(
        StatusCode::BAD_REQUEST,
        "Invalid form",
        "The form could not be read. Go back to the application and sign in again.",
        Some("invalid_request"),
    )
}

fn expired_page() -> HttpResponse {
    pages::error(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "This sign-in link has expired or was already used. Go back to the application and start again.",
        None,
    )
}

fn forbidden_page() -> HttpResponse {
    pages::error(
        StatusCode::FORBIDDEN,
        "This form cannot be accepted",
        "The form was not sent from the page this browser opened, or it has been replaced by a newer one (CSRF check failed). Go back to the application and sign in again.",
        None,
    )
}
