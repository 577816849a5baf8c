//! The steps of a browser sign-in that the authorization, login and consent endpoints share: the
//! pending interaction (begun by `/oauth/authorize`, loaded and checked by `/login` and
//! `/consent`), the browser session, and the end of every successful flow, the code.
//!
//! Each form post is checked three ways before anything else happens: the interaction exists and
//! is live, the browser holds the cookie it was bound to, and the CSRF token matches the one last
//! rendered (`load`).

use crate::http::error::{PageError, redirect_error, store_error};
use crate::http::redirect::{see_other, with_query};
use crate::http::{cookies, params};
use crate::random::{random_b64, random_token};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::request::authorize::{AuthorizationRequest, needs_consent};
use gatehouse_protocol::types::{ClientKind, RedirectUri, TokenHash, UnixTime};
use gatehouse_storage::{BrowserSession, ClientRecord, Interaction, InteractionLogin, UserRecord};

/// Where an authorization error goes once the client and its redirect URI have checked out.
#[derive(Debug, Clone)]
pub struct Back {
    /// The validated redirect URI.
    pub uri: RedirectUri,
    /// The request's `state`, echoed with the error.
    pub state: Option<String>,
}

impl Back {
    /// The error destination of a parsed request.
    #[must_use]
    pub fn of(request: &AuthorizationRequest) -> Self {
        Self {
            uri: request.redirect.uri.clone(),
            state: request.state.clone(),
        }
    }

    /// `error`, redirected to the client ([`redirect_error`]).
    #[must_use]
    pub fn error(&self, issuer: &str, error: &Error) -> HttpResponse {
        redirect_error(issuer, &self.uri, self.state.as_deref(), error)
    }
}

/// Once the user is known: show the consent page if needed, else issue the code.
/// `interaction` is the pending interaction when called from the login page.
///
/// # Errors
/// `login_required`/`access_denied` when the request names another `sub`; `consent_required` for
/// `prompt=none`; `invalid_request` when the interaction was already finished; store errors.
pub async fn after_login(
    state: &AppState,
    req: &HttpRequest,
    client: &ClientRecord,
    request: AuthorizationRequest,
    login: InteractionLogin,
    interaction: Option<&str>,
    now: UnixTime,
) -> Result<HttpResponse, Error> {
    // OIDC Core §5.5.1: a request naming a `sub` gets a positive answer only for that user.
    if request.claims.sub.as_deref().is_some_and(|sub| sub != login.user_id) {
        let why = "the claims parameter asks for a specific sub, and another user is signed in";
        return Err(if request.prompt.none {
            Error::LoginRequired(why.into())
        } else {
            Error::AccessDenied(why.into())
        });
    }
    let consented = state
        .store
        .find_consent(&login.user_id, &client.id)
        .await
        .map_err(store_error)?;
    if needs_consent(&request, consented.as_ref()) || must_confirm(client) {
        if request.prompt.none {
            return Err(consent_required(client));
        }
        return match interaction {
            Some(id) => Ok(see_other(&format!("{}/consent?interaction={id}", state.issuer))),
            None => begin_interaction(state, req, request, Some(login), "consent", now).await,
        };
    }
    if let Some(id) = interaction {
        // Single use: a second tab finishing the same interaction gets nothing.
        if state
            .store
            .take_interaction(id, now)
            .await
            .map_err(store_error)?
            .is_none()
        {
            return Err(invalid_request(
                "this sign-in was already completed or has expired; start again",
            ));
        }
    }
    issue_code(state, &request, &login, now).await
}

/// Stores a code for the request and redirects the browser back with it.
///
/// # Errors
/// Store errors.
pub async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    login: &InteractionLogin,
    now: UnixTime,
) -> Result<HttpResponse, Error> {
    use_pushed_request(state, request, now).await?;
    let code = random_token();
    let grant = CodeGrant {
        grant_id: random_b64(16),
        client_id: request.client_id.clone(),
        subject: login.user_id.clone(),
        redirect: request.redirect.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: login.auth_time,
        session_id: Some(login.sid.clone()),
        claims: request.claims.clone(),
        expires_at: now.plus(state.config.code_ttl.as_secs()),
        resources: request.resources.clone(),
        dpop_jkt: request.dpop_jkt.clone(),
    };
    state
        .store
        .put_code(&TokenHash::of(&code), &grant, now)
        .await
        .map_err(store_error)?;
    tracing::info!(target: "gatehouse::audit", event = "code.issued", client_id = %request.client_id, sub = %login.user_id);
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &state.issuer));
    Ok(see_other(&with_query(request.redirect.uri.as_str(), &pairs)))
}

/// A pushed request is used once, when its code is issued (RFC 9126 §4: "one-time use"), not when
/// it is first shown: a reload or a slow sign-in before then still works. Remembered, on every
/// instance, for as long as an interaction begun from it could live.
async fn use_pushed_request(state: &AppState, request: &AuthorizationRequest, now: UnixTime) -> Result<(), Error> {
    let Some(stored) = request.pushed_request.as_deref() else {
        return Ok(());
    };
    // Fails closed: a pushed request whose record cannot be read is never used.
    let hash = gatehouse_protocol::types::b64url_decode(stored)
        .and_then(|b| TokenHash::from_bytes(&b))
        .ok_or_else(|| Error::Server("a stored pushed request reference is not a hash".into()))?;
    let until = now.plus(state.config.login_ttl.as_secs() + state.config.par_ttl.as_secs());
    if state
        .store
        .first_use("pushed_request", &hash, until, now)
        .await
        .map_err(store_error)?
    {
        Ok(())
    } else {
        Err(Error::InvalidRequestUri(
            "this pushed authorization request was already used to issue a code; push a new one for every authorization".into(),
        ))
    }
}

/// Stores a pending interaction bound to this browser and sends the browser to `page` (`login` or
/// `consent`) to finish it.
///
/// # Errors
/// Store errors.
pub async fn begin_interaction(
    state: &AppState,
    req: &HttpRequest,
    request: AuthorizationRequest,
    login: Option<InteractionLogin>,
    page: &str,
    now: UnixTime,
) -> Result<HttpResponse, Error> {
    let (browser, _) = cookies::binding(req, state.secure_cookies);
    let interaction = Interaction {
        id: random_token(),
        // Replaced by a fresh token each time a page renders the form.
        csrf_hash: TokenHash::of(&random_token()),
        browser_hash: TokenHash::of(&browser),
        request,
        login,
        expires_at: now.plus(state.config.login_ttl.as_secs()),
    };
    state.store.put_interaction(&interaction).await.map_err(store_error)?;
    let mut res = see_other(&format!("{}/{page}?interaction={}", state.issuer, interaction.id));
    // Set (or renew) the binding for at least as long as this interaction lives: a cookie kept from
    // an earlier interaction would otherwise expire under this one.
    cookies::set_binding(&mut res, state, browser);
    Ok(res)
}

/// Why `prompt=none` cannot be honoured when consent is needed.
fn consent_required(client: &ClientRecord) -> Error {
    Error::ConsentRequired(if must_confirm(client) {
        "prompt=none cannot be honoured: this public client redirects to a loopback address or a private-use scheme, so the user confirms every authorization (RFC 8252 section 8.6)".into()
    } else {
        "prompt=none was requested but the user has not consented to these scopes for this client".into()
    })
}

/// RFC 8252 §8.6: a public client whose redirect goes to a loopback address or a private-use scheme
/// is a native app whose identity cannot be assured (any local program can claim its client_id and
/// listen on a loopback port), so it is never approved silently: the user confirms every time.
fn must_confirm(client: &ClientRecord) -> bool {
    client.auth_method.kind() == ClientKind::Public && client.redirect_uris.iter().any(RedirectUri::is_native)
}

/// The browser's live session and its user, if any (a locked or deleted user has none).
///
/// # Errors
/// Store errors.
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
    now: UnixTime,
) -> Result<Option<(BrowserSession, UserRecord)>, Error> {
    let Some(cookie) = cookies::value(req, cookies::Kind::Session, state.secure_cookies) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .find_session(&TokenHash::of(&cookie), now)
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let user = state.store.find_user(&session.user_id).await.map_err(store_error)?;
    Ok(user.filter(|u| !u.locked).map(|u| (session, u)))
}

/// The interaction a page (`GET /login`, `GET /consent`) shows, and its client, once the browser
/// binding checks out.
///
/// # Errors
/// `BadForm` for an unreadable query, else as `load`.
pub async fn open(
    state: &AppState,
    req: &HttpRequest,
    now: UnixTime,
) -> Result<(Interaction, ClientRecord), PageError> {
    let query = params::query(req).map_err(|_| PageError::BadForm)?;
    load(state, req, &query, Check::Binding, now).await
}

/// A form posted to a page: its fields, its interaction and the client, once the browser binding
/// and the CSRF token check out.
///
/// # Errors
/// `BadForm` for an unreadable form, else as `load`.
pub async fn submitted(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    now: UnixTime,
) -> Result<(Params, Interaction, ClientRecord), PageError> {
    let form = params::form(req, body).map_err(|_| PageError::BadForm)?;
    let (interaction, client) = load(state, req, &form, Check::BindingAndCsrf, now).await?;
    Ok((form, interaction, client))
}

/// What [`load`] checks besides the interaction and its browser binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// A page being shown: the binding only.
    Binding,
    /// A form post: the binding and the CSRF token of the form last rendered.
    BindingAndCsrf,
}

/// Finds the interaction named in `params` and its client, and checks the browser binding (and,
/// for a form post, the CSRF token).
///
/// # Errors
/// `Expired` when the interaction or its client is gone, `Forbidden` when a check fails, store
/// errors.
async fn load(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    check: Check,
    now: UnixTime,
) -> Result<(Interaction, ClientRecord), PageError> {
    let id = params.get("interaction").ok().flatten().ok_or(PageError::Expired)?;
    let interaction = state.store.find_interaction(id, now).await?.ok_or(PageError::Expired)?;
    let bound = cookies::value(req, cookies::Kind::Browser, state.secure_cookies)
        .is_some_and(|c| TokenHash::of(&c).ct_eq(&interaction.browser_hash));
    if !bound {
        return Err(PageError::Forbidden);
    }
    if check == Check::BindingAndCsrf {
        let csrf_ok = params
            .get("csrf_token")
            .ok()
            .flatten()
            .is_some_and(|t| TokenHash::of(t).ct_eq(&interaction.csrf_hash));
        if !csrf_ok {
            return Err(PageError::Forbidden);
        }
    }
    let client = crate::clients::find_for_page(state, &interaction.request.client_id)
        .await?
        .ok_or(PageError::Expired)?;
    Ok((interaction, client))
}

/// A new CSRF token for a form about to be rendered; its hash replaces the previous one.
///
/// # Errors
/// `Expired` when the interaction is gone, or the token could not be stored (a form whose token
/// was not stored could never be accepted).
pub async fn fresh_csrf(state: &AppState, interaction: &Interaction) -> Result<String, PageError> {
    let token = random_token();
    match state
        .store
        .set_interaction_csrf(&interaction.id, &TokenHash::of(&token))
        .await
    {
        Ok(true) => Ok(token),
        Ok(false) => Err(PageError::Expired),
        Err(e) => {
            tracing::warn!(error = %e, "could not store a CSRF token");
            Err(PageError::Expired)
        }
    }
}
