//! The end-session endpoint, `/oauth/logout` (OpenID Connect RP-Initiated Logout 1.0), GET and
//! POST. What the request may do is decided in `gatehouse_protocol::logout`; this handler finds
//! what that needs (the hint's signature, the client, this browser's session), asks the user when
//! it must, ends the session through [`crate::logout::Backchannel`] (which notifies the clients
//! before the browser moves on, §3), and sends the browser back or to the signed-out page.
//!
//! The confirmation form posts the request's parameters back with `confirm=yes` and a CSRF token
//! bound to the browser session ([`crate::csrf`]), so it needs no stored state and a form from
//! another site cannot end anyone's session.

use crate::csrf;
use crate::http::error::PageError;
use crate::http::pages::{self, LogoutPage, SignedOutPage};
use crate::http::redirect::{see_other, with_query};
use crate::http::{cookies, params};
use crate::logout::Initiator;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::logout::{Decision, Found, Hint, LogoutRequest, decide};
use gatehouse_protocol::request::Params;
use gatehouse_protocol::types::TokenHash;
use gatehouse_storage::{BrowserSession, ClientRecord, SessionEnd};

/// `GET /oauth/logout`.
///
/// # Errors
/// A page saying what was wrong; nobody is signed out or redirected.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let params = params::query(&req).map_err(|e| PageError::Logout(e.description()))?;
    logout(&state, &req, &params).await
}

/// `POST /oauth/logout` (the RP's form post, or the confirmation form).
///
/// # Errors
/// As [`get`].
pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let params = params::form(&req, &body).map_err(|e| PageError::Logout(e.description()))?;
    logout(&state, &req, &params).await
}

async fn logout(state: &AppState, req: &HttpRequest, params: &Params) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let request = LogoutRequest::parse(params).map_err(|e| PageError::Logout(e.description()))?;
    let hint = request.id_token_hint.as_deref().map(|h| verify_hint(state, h));
    let client_id = request
        .client_id
        .clone()
        .or_else(|| hint.as_ref().and_then(|h| h.as_ref().ok()).map(|h| h.client_id.clone()));
    let client = match &client_id {
        Some(id) => state.store.find_client(id).await?,
        None => None,
    };
    let session = match cookies::value(req, cookies::Kind::Session, state.secure_cookies) {
        Some(cookie) => state.store.find_session(&TokenHash::of(&cookie), now).await?,
        None => None,
    };
    let found = Found {
        hint: hint.as_ref(),
        client_uris: client.as_ref().map(|c| c.post_logout_redirect_uris.as_slice()),
        session_sid: session.as_ref().map(|s| s.sid.as_str()),
    };
    let decision = decide(&request, found).map_err(|refusal| PageError::Logout(refusal.explain()))?;
    let Some(session) = session else {
        return signed_out(state, &decision);
    };
    if params.get("confirm").ok().flatten() != Some("yes") {
        if decision.confirm {
            return confirm_page(state, &request, &decision, client.as_ref(), &session).await;
        }
    } else if !csrf_ok(state, &session, params) {
        return Err(PageError::Forbidden);
    }
    let initiator = if decision.client_id.is_some() {
        Initiator::Rp
    } else {
        Initiator::User
    };
    // Waits for the back-channel deliveries (each within GATEHOUSE_OUTBOUND_TIMEOUT): the clients
    // hear of the logout before the browser reaches one of them (§3).
    let keys = state.keys();
    let end = SessionEnd::Cookie(&session.token_hash);
    state.backchannel.end(&keys, end, initiator, now).await?;
    signed_out(state, &decision)
}

/// The answer once the session is over: the registered URI exactly as registered, `state`
/// appended only when sent (§3), or the signed-out page; the session cookie cleared either way.
fn signed_out(state: &AppState, decision: &Decision) -> Result<HttpResponse, PageError> {
    let mut res = match &decision.redirect {
        Some(r) => see_other(&match &r.state {
            Some(s) => with_query(&r.uri, &[("state", s)]),
            None => r.uri.clone(),
        }),
        None => pages::render(&SignedOutPage, StatusCode::OK, None)?,
    };
    cookies::clear(&mut res, cookies::Kind::Session, state.secure_cookies);
    Ok(res)
}

/// Whether the confirmation form carries this session's CSRF token.
fn csrf_ok(state: &AppState, session: &BrowserSession, params: &Params) -> bool {
    let sent = params.get("csrf_token").ok().flatten();
    csrf::verify(state, "logout", &session.token_hash, sent)
}

/// Reads an `id_token_hint`: an ID token this server signed (any of its published keys, expired
/// or not). Anything else (`alg: none`, another issuer's key, an access or logout token) is
/// refused with the reason.
fn verify_hint(state: &AppState, hint: &str) -> Result<Hint, String> {
    let (header, claims) = state.keys().verify_with_header(hint).ok_or_else(|| {
        "it is not signed by one of this server's published keys (alg none, another issuer's key, a key retired since, or not a JWT)".to_owned()
    })?;
    if header["typ"].as_str().is_some_and(|t| t != "JWT") {
        return Err(format!(
            "it is a {} token, not an ID token",
            header["typ"].as_str().unwrap_or_default()
        ));
    }
    Hint::from_claims(&state.issuer, &claims)
}

async fn confirm_page(
    state: &AppState,
    request: &LogoutRequest,
    decision: &Decision,
    client: Option<&ClientRecord>,
    session: &BrowserSession,
) -> Result<HttpResponse, PageError> {
    let user = state.store.find_user(&session.user_id).await?;
    let username = user.as_ref().map_or("", |u| u.username.as_str());
    let fields: Vec<(&'static str, &str)> = [
        ("id_token_hint", request.id_token_hint.as_deref()),
        ("client_id", request.client_id.as_ref().map(|c| c.as_str())),
        ("post_logout_redirect_uri", request.post_logout_redirect_uri.as_deref()),
        ("state", request.state.as_deref()),
        ("logout_hint", request.logout_hint.as_deref()),
        ("ui_locales", request.ui_locales.as_deref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect();
    let csrf = csrf::token(state, "logout", &session.token_hash);
    let name = client.map(crate::http::pages::display_name);
    let page = LogoutPage {
        username,
        client_name: name.as_deref(),
        fields,
        csrf_token: &csrf,
    };
    // The form's post may end in a redirect to the client: its origin is allowed in form-action.
    let redirect_to = decision.redirect.as_ref().map(|r| r.uri.as_str());
    Ok(pages::render(&page, StatusCode::OK, redirect_to)?)
}
