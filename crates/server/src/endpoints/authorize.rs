//! `GET|POST /oauth/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2). Errors before the client and
//! redirect URI are known good get an error page; every later error is redirected with `state`
//! and `iss` (RFC 6749 §4.1.2.1, RFC 9207).

use crate::http::error::store_error;
use crate::http::{cookies, pages, params};
use crate::random::{random_b64, random_token};
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::request::authorize::{
    AuthorizationRequest, Target, needs_consent, needs_login, state_for_error,
};
use gatehouse_protocol::types::{ClientKind, GrantType, RedirectUri, TokenHash};
use gatehouse_storage::{ClientRecord, Interaction, InteractionLogin, UserRecord};

/// `GET /oauth/authorize`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    handle(&state, &req, params::query(&req)).await
}

/// `POST /oauth/authorize` (OIDC Core §3.1.2.1: form-encoded body).
pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(&state, &req, params::form(&req, &body)).await
}

async fn handle(state: &AppState, req: &HttpRequest, params: Result<Params, Error>) -> HttpResponse {
    let params = match params {
        Ok(p) => p,
        Err(e) => return bad_request_page(&e),
    };
    let target = match Target::parse(&params) {
        Ok(t) => t,
        Err(e) => return bad_request_page(&e),
    };
    let client = match state.store.find_client(&target.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Unknown application",
                "The application that sent you here is not registered with this server (unknown client_id). Nothing was sent back to it.",
                Some("invalid_request"),
            );
        }
        Err(e) => return unavailable_page(store_error(e)),
    };
    let redirect = match target.resolve_redirect_uri(&client.redirect_uris) {
        Ok(r) => r,
        Err(e) => return bad_request_page(&e),
    };
    // From here on the redirect URI is trustworthy: errors go back to the client.
    let back = Back {
        uri: redirect.uri.clone(),
        state: state_for_error(&params),
    };
    let result = match AuthorizationRequest::parse(&params, target, redirect) {
        Ok(request) => start(state, req, &client, request).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| redirect_error(state, &back, &e))
}

/// Where an error goes once the redirect URI is validated.
pub struct Back {
    /// The validated redirect URI.
    pub uri: RedirectUri,
    /// The request's `state`.
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
}

async fn start(
    state: &AppState,
    req: &HttpRequest,
    client: &ClientRecord,
    mut request: AuthorizationRequest,
) -> Result<HttpResponse, Error> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(Error::UnauthorizedClient(
            "this client is not allowed the authorization_code grant; add it with gatehouse client update --grant-type authorization_code".into(),
        ));
    }
    verify_scopes(state, client, &request).await?;
    request.claims.retain_allowed(&client.scopes);
    gatehouse_protocol::request::resource::verify_allowed(&request.resources, &client.resources)?;
    let hint_subject = request
        .id_token_hint
        .as_deref()
        .map(|h| verify_id_token_hint(state, h, client))
        .transpose()?;
    let now = state.clock.now();
    let login = match current_session(state, req).await? {
        Some((session, user)) if !needs_login(&request, &user.id, session.auth_time, hint_subject.as_deref(), now) => {
            Some(InteractionLogin {
                user_id: user.id,
                auth_time: session.auth_time,
                sid: session.sid,
            })
        }
        _ => None,
    };
    match login {
        None if request.prompt.none => Err(Error::LoginRequired(
            "prompt=none was requested but the user must sign in (no session, or the session is too old or for another user)".into(),
        )),
        None => begin_interaction(state, req, request, None, "login").await,
        Some(login) => after_login(state, req, client, request, login, None).await,
    }
}

/// Once the user is known: show the consent page if needed, else issue the code.
/// `interaction` is the pending interaction when called from the login page.
///
/// # Errors
/// `consent_required` for `prompt=none`; store errors.
pub async fn after_login(
    state: &AppState,
    req: &HttpRequest,
    client: &ClientRecord,
    request: AuthorizationRequest,
    login: InteractionLogin,
    interaction: Option<&str>,
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
            return Err(Error::ConsentRequired(if must_confirm(client) {
                "prompt=none cannot be honoured: this public client redirects to a loopback address or a private-use scheme, so the user confirms every authorization (RFC 8252 section 8.6)".into()
            } else {
                "prompt=none was requested but the user has not consented to these scopes for this client".into()
            }));
        }
        return match interaction {
            Some(id) => Ok(see_other(&format!("{}/consent?interaction={id}", state.issuer))),
            None => begin_interaction(state, req, request, Some(login), "consent").await,
        };
    }
    if let Some(id) = interaction {
        // Single use: a second tab finishing the same interaction gets nothing.
        if state
            .store
            .take_interaction(id, state.clock.now())
            .await
            .map_err(store_error)?
            .is_none()
        {
            return Err(invalid_request(
                "this sign-in was already completed or has expired; start again",
            ));
        }
    }
    issue_code(state, &request, &login).await
}

/// Stores a code for the request and redirects the browser back with it.
///
/// # Errors
/// Store errors.
pub async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    login: &InteractionLogin,
) -> Result<HttpResponse, Error> {
    let code = random_token();
    let now = state.clock.now();
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
    };
    state
        .store
        .put_code(&TokenHash::of(&code), &grant)
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

async fn begin_interaction(
    state: &AppState,
    req: &HttpRequest,
    request: AuthorizationRequest,
    login: Option<InteractionLogin>,
    page: &str,
) -> Result<HttpResponse, Error> {
    let browser = cookies::value(req, cookies::Kind::Browser, state.secure_cookies).unwrap_or_else(random_token);
    let interaction = Interaction {
        id: random_token(),
        // Replaced by a fresh token each time a page renders the form.
        csrf_hash: TokenHash::of(&random_token()),
        browser_hash: TokenHash::of(&browser),
        request,
        login,
        expires_at: state.clock.now().plus(state.config.login_ttl.as_secs()),
    };
    state.store.put_interaction(&interaction).await.map_err(store_error)?;
    let mut res = see_other(&format!("{}/{page}?interaction={}", state.issuer, interaction.id));
    // Set (or renew) the binding for at least as long as this interaction lives: a cookie kept from
    // an earlier interaction would otherwise expire under this one.
    let ttl = i64::try_from(state.config.login_ttl.as_secs()).unwrap_or(i64::MAX);
    let _ = res.add_cookie(&cookies::build(
        cookies::Kind::Browser,
        browser,
        ttl,
        state.secure_cookies,
    ));
    Ok(res)
}

/// RFC 8252 §8.6: a public client whose redirect goes to a loopback address or a private-use scheme
/// is a native app whose identity cannot be assured (any local program can claim its client_id and
/// listen on a loopback port), so it is never approved silently: the user confirms every time.
fn must_confirm(client: &ClientRecord) -> bool {
    client.auth_method.kind() == ClientKind::Public && client.redirect_uris.iter().any(RedirectUri::is_native)
}

async fn verify_scopes(state: &AppState, client: &ClientRecord, request: &AuthorizationRequest) -> Result<(), Error> {
    let registry = state.store.list_scopes().await.map_err(store_error)?;
    for scope in request.scope.iter() {
        if !registry.iter().any(|r| r.name == scope.as_str()) {
            return Err(Error::InvalidScope(
                format!(
                    "scope {} is not registered on this server; see scopes_supported in the discovery document",
                    scope.as_str()
                )
                .into(),
            ));
        }
        if !client.scopes.contains(scope.as_str()) {
            return Err(Error::InvalidScope(
                format!(
                    "scope {} is not allowed for this client (allowed: {})",
                    scope.as_str(),
                    client.scopes.to_param()
                )
                .into(),
            ));
        }
    }
    Ok(())
}

/// The `sub` of an `id_token_hint`: it must be an ID token we signed, for this client.
fn verify_id_token_hint(state: &AppState, hint: &str, client: &ClientRecord) -> Result<String, Error> {
    let bad = || invalid_request("id_token_hint is not an ID token issued by this provider to this client");
    let (header, claims) = state.keys().verify_with_header(hint).ok_or_else(bad)?;
    // Our ID tokens are `typ: JWT`; a JWT access token (`at+jwt`) or any other signed object of
    // ours is not a hint, even where its claims would fit (RFC 8725 §3.11: explicit typing).
    if header["typ"].as_str() != Some("JWT") {
        return Err(bad());
    }
    if claims["iss"].as_str() != Some(state.issuer.as_str()) {
        return Err(bad());
    }
    let aud_ok = match &claims["aud"] {
        serde_json::Value::String(a) => a == client.id.as_str(),
        serde_json::Value::Array(a) => a.iter().any(|v| v.as_str() == Some(client.id.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Err(bad());
    }
    claims["sub"].as_str().map(str::to_owned).ok_or_else(bad)
}

/// The browser's live session and its user, if any (a locked or deleted user has none).
///
/// # Errors
/// Store errors.
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(gatehouse_storage::BrowserSession, UserRecord)>, Error> {
    let Some(cookie) = cookies::value(req, cookies::Kind::Session, state.secure_cookies) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .find_session(&TokenHash::of(&cookie), state.clock.now())
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let user = state.store.find_user(&session.user_id).await.map_err(store_error)?;
    Ok(user.filter(|u| !u.locked).map(|u| (session, u)))
}

/// Redirects an error to the client (RFC 6749 §4.1.2.1) with `iss` (RFC 9207).
#[must_use]
pub fn redirect_error(state: &AppState, back: &Back, error: &Error) -> HttpResponse {
    crate::metrics::oauth_error("authorize", error.code());
    if let Error::Server(detail) = error {
        tracing::error!(detail = %detail, "server_error at the authorization endpoint");
    }
    let description = error.description();
    let mut pairs = vec![("error", error.code()), ("error_description", description.as_str())];
    if let Some(s) = &back.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &state.issuer));
    see_other(&with_query(back.uri.as_str(), &pairs))
}

/// `uri` with `pairs` appended to its query, keeping any query it has (RFC 6749 §3.1.2).
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

/// A 303 redirect.
#[must_use]
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn bad_request_page(e: &Error) -> HttpResponse {
    crate::metrics::oauth_error("authorize", e.code());
    pages::error(
        StatusCode::BAD_REQUEST,
        "This sign-in request is invalid",
        &format!("{} Nothing was sent back to the application.", e.description()),
        Some(e.code()),
    )
}

/// The page shown when the store is down.
#[must_use]
pub fn unavailable_page(e: Error) -> HttpResponse {
    if let Error::Server(detail) = &e {
        tracing::error!(detail = %detail, "server_error");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    pages::error(
        status,
        "Something went wrong",
        "The server cannot handle this request right now. Please try again in a moment.",
        Some(e.code()),
    )
}
