//! The verification page, `/device` (RFC 8628 §3.3): the user types the code their device shows,
//! signs in if this browser has no session, sees what they are approving (which client, when and
//! from which address the device asked, what it gets: §5.4, against remote phishing) and allows
//! or denies it.
//!
//! Every form posts back to `/device` with the code and a CSRF token bound to the browser cookie
//! ([`crate::csrf`]). Wrong codes count per address in the store, shared by every instance
//! (`GATEHOUSE_RATE_LIMIT_DEVICE_CODES`): guessing one of 20^8 codes in ten minutes stays hopeless.

use crate::csrf;
use crate::http::error::{PageError, form_refused, login_refused};
use crate::http::pages::{self, DeviceConfirmPage, DeviceDonePage, DevicePage, LoginPage};
use crate::http::{cookies, params};
use crate::interaction::current_session;
use crate::metrics::METRICS;
use crate::signin::{Refusal, check_password, start_session};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::grant::device_code::UserCode;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::types::{TokenHash, UnixTime};
use gatehouse_storage::{BrowserSession, ClientRecord, DeviceDecision, DeviceRecord, UserRecord};

const PURPOSE: &str = "device";
const WRONG_CODE: &str =
    "That code is not valid, or it has expired or been used. Check the code on your device and try again.";
const TOO_MANY: &str = "Too many wrong codes came from this address. Wait a few minutes, then try again.";

/// `GET /device[?user_code=...]`: the code form (`verification_uri_complete` fills it in; the user
/// still confirms).
///
/// # Errors
/// An error page when the page cannot be rendered.
pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let query = params::query(&req).map_err(|_| PageError::BadForm)?;
    let typed = query.get("user_code").ok().flatten().unwrap_or("");
    let (browser, fresh) = cookies::binding(&req, state.secure_cookies);
    let mut res = code_form(&state, &TokenHash::of(&browser), typed, None)?;
    if fresh {
        cookies::set_binding(&mut res, &state, browser);
    }
    Ok(res)
}

/// `POST /device`: the code, then (without a session) the password, then the decision.
///
/// # Errors
/// An error page when the CSRF check fails, a limit refuses, the authorization is gone, or the
/// store fails; a wrong code or password gets its form again.
pub async fn submit(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let form = params::form(&req, &body).map_err(|_| PageError::BadForm)?;
    let browser = cookies::value(&req, cookies::Kind::Browser, state.secure_cookies).ok_or(PageError::Forbidden)?;
    let binding = TokenHash::of(&browser);
    let field = |name: &str| form.get(name).ok().flatten();
    if !csrf::verify(&state, PURPOSE, &binding, field("csrf_token")) {
        return Err(PageError::Forbidden);
    }
    let typed = field("user_code").unwrap_or("");
    let Some(device) = find(&state, &req, typed, now).await? else {
        return code_form(&state, &binding, typed, Some(WRONG_CODE));
    };
    let client = crate::clients::find_for_page(&state, &device.client_id)
        .await?
        .ok_or(PageError::Expired)?;
    let (session, user, cookie) = match current_session(&state, &req, now)
        .await
        .map_err(PageError::Unavailable)?
    {
        Some((session, user)) => (session, user, None),
        None => match sign_in(&state, &req, &form, &client, now).await? {
            Ok((session, user, cookie)) => (session, user, Some(cookie)),
            Err(message) => return login_form(&state, &binding, &device, &client, &form, message),
        },
    };
    let mut res = match field("decision") {
        Some(decision) => decide(&state, &device, &client, &session, &user, decision == "allow", now).await?,
        None => confirm_page(&state, &binding, &device, &client, &user, now).await?,
    };
    if let Some(cookie) = cookie {
        cookies::set_session(&mut res, &state, cookie);
    }
    Ok(res)
}

/// The pending authorization with the typed code. A wrong code counts against the address; once
/// the address has too many, every code is refused (429) until the window ends.
async fn find(
    state: &AppState,
    req: &HttpRequest,
    typed: &str,
    now: UnixTime,
) -> Result<Option<DeviceRecord>, PageError> {
    let address = crate::protect::address_key(crate::protect::client_ip(req, &state.config.trusted_proxies));
    let limit = state.config.limit_device_codes;
    if let Some(limit) = limit
        && let Some((failures, start)) = state
            .store
            .wrong_device_codes(&address, now, limit.window.as_secs())
            .await?
        && failures >= limit.count
    {
        return Err(too_many(start.plus(limit.window.as_secs()), now));
    }
    let found = match UserCode::parse(typed) {
        Some(code) => state.store.find_pending_device(code.as_str(), now).await?,
        None => None,
    };
    if found.is_none() {
        METRICS.device.with_label_values(&["wrong_code"]).inc();
        if let Some(limit) = limit {
            let window = limit.window.as_secs();
            let (failures, start) = state.store.count_wrong_device_code(&address, now, window).await?;
            if failures >= limit.count {
                return Err(too_many(start.plus(window), now));
            }
        }
    }
    Ok(found)
}

fn too_many(until: UnixTime, now: UnixTime) -> PageError {
    METRICS.rate_limited.with_label_values(&["device_codes"]).inc();
    PageError::TooMany {
        retry_after: u64::try_from(until.0 - now.0).unwrap_or(1).max(1),
        message: TOO_MANY,
    }
}

/// Signs in with the posted username and password, if the form carries them. `Ok(Err(message))`
/// shows the login form (again).
async fn sign_in(
    state: &AppState,
    req: &HttpRequest,
    form: &Params,
    client: &ClientRecord,
    now: UnixTime,
) -> Result<Result<(BrowserSession, UserRecord, String), Option<&'static str>>, PageError> {
    let Some(username) = form.get("username").ok().flatten() else {
        return Ok(Err(None));
    };
    let password = form.get("password").ok().flatten().unwrap_or("").to_owned();
    let user = match check_password(state, req, client, username.trim(), password).await {
        Ok(user) => user,
        Err(Refusal::Page(e)) => return Err(e),
        Err(Refusal::Form(message)) => return Ok(Err(Some(message))),
    };
    METRICS.logins.with_label_values(&["success"]).inc();
    tracing::info!(target: "gatehouse::audit", event = "login.success", client_id = %client.id, sub = %user.id);
    let (session, cookie) = start_session(state, req, user.id.clone(), now).await?;
    Ok(Ok((session, user, cookie)))
}

/// Records the decision once (a second tab or a double submit finds it decided) and remembers the
/// consent, as the code flow does.
async fn decide(
    state: &AppState,
    device: &DeviceRecord,
    client: &ClientRecord,
    session: &BrowserSession,
    user: &UserRecord,
    allow: bool,
    now: UnixTime,
) -> Result<HttpResponse, PageError> {
    let decision = if allow {
        DeviceDecision::Approve {
            subject: user.id.clone(),
            auth_time: session.auth_time,
        }
    } else {
        DeviceDecision::Deny
    };
    if !state
        .store
        .decide_device(device.user_code.as_str(), &decision, now)
        .await?
    {
        return Err(PageError::Expired);
    }
    if allow {
        state
            .store
            .grant_consent(&user.id, &client.id, &device.scope, now)
            .await?;
    }
    let result = if allow { "approved" } else { "denied" };
    METRICS.device.with_label_values(&[result]).inc();
    tracing::info!(target: "gatehouse::audit", event = "device.decided", result, client_id = %client.id, sub = %user.id);
    let name = pages::display_name(client);
    let page = DeviceDonePage {
        approved: allow,
        client_name: &name,
    };
    Ok(pages::render(&page, StatusCode::OK, None)?)
}

fn code_form(
    state: &AppState,
    binding: &TokenHash,
    typed: &str,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let csrf_token = csrf::token(state, PURPOSE, binding);
    let page = DevicePage {
        user_code: typed,
        csrf_token: &csrf_token,
        error,
    };
    if error.is_some() {
        return form_refused(&page);
    }
    Ok(pages::render(&page, StatusCode::OK, None)?)
}

fn login_form(
    state: &AppState,
    binding: &TokenHash,
    device: &DeviceRecord,
    client: &ClientRecord,
    form: &Params,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let csrf_token = csrf::token(state, PURPOSE, binding);
    let name = pages::display_name(client);
    let page = LoginPage {
        client_name: &name,
        action: "/device",
        hidden: vec![("user_code", device.user_code.as_str()), ("csrf_token", &csrf_token)],
        username: form.get("username").ok().flatten().unwrap_or(""),
        error,
    };
    if error.is_some() {
        return login_refused(&page, None);
    }
    Ok(pages::render(&page, StatusCode::OK, None)?)
}

async fn confirm_page(
    state: &AppState,
    binding: &TokenHash,
    device: &DeviceRecord,
    client: &ClientRecord,
    user: &UserRecord,
    now: UnixTime,
) -> Result<HttpResponse, PageError> {
    let registry = state.store.list_scopes().await?;
    let csrf_token = csrf::token(state, PURPOSE, binding);
    let page = DeviceConfirmPage {
        client_name: &client.name,
        self_asserted: client.origin.is_dynamic(),
        username: &user.username,
        requested_at: requested_at(device.created_at, now),
        requested_from: device.requested_from.as_deref(),
        user_code: device.user_code.as_str(),
        user_code_shown: device.user_code.display(),
        scopes: pages::scope_lines(&registry, device.scope.iter()),
        csrf_token: &csrf_token,
    };
    Ok(pages::render(&page, StatusCode::OK, None)?)
}

/// `11:32 UTC (2 minutes ago)`.
fn requested_at(at: UnixTime, now: UnixTime) -> String {
    let of_day = at.0.rem_euclid(86_400);
    let minutes = (now.0 - at.0).max(0) / 60;
    let ago = match minutes {
        0 => "just now".to_owned(),
        1 => "1 minute ago".to_owned(),
        n => format!("{n} minutes ago"),
    };
    format!("{:02}:{:02} UTC ({ago})", of_day / 3600, of_day % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_time_reads_as_a_clock_and_an_age() {
        let at = UnixTime(1_764_675_120); // 11:32 UTC
        assert_eq!(requested_at(at, at), "11:32 UTC (just now)");
        assert_eq!(requested_at(at, at.plus(150)), "11:32 UTC (2 minutes ago)");
    }
}
