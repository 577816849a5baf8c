//! `POST /oauth/token` (RFC 6749 §3.2): authenticate the client, parse the grant, one `match`.

use crate::http::error::{ApiError, Challenge, store_error};
use crate::http::params;
use crate::issue::{self, TokenResponse, UserGrant};
use crate::metrics::METRICS;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::grant::{authorization_code, refresh_token};
use gatehouse_protocol::request::client_auth::ClientAuth;
use gatehouse_protocol::request::resource;
use gatehouse_protocol::request::token::TokenRequest;
use gatehouse_protocol::types::{ClientKind, CodeVerifier, GrantType, ScopeSet, Secret, TokenHash};
use gatehouse_storage::{ClientRecord, Rotation, Successor, Taken, UserRecord};

/// `POST /oauth/token`.
pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    handle(&state, &req, &body)
        .await
        .map_err(|e| ApiError::at("token", e, Challenge::Basic))
}

async fn handle(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, Error> {
    let params = params::form(req, body)?;
    params.reject_repeats()?;
    let auth = ClientAuth::parse(params::authorization(req), &params)?;
    let client = authenticate(state, req, &auth).await?;
    // The optional request budget is counted per authenticated client: an unauthenticated
    // request naming a client_id must never spend that client's budget. A public client proves
    // nothing by naming itself, so its budget is per (client_id, address).
    let budget_key = if client.auth_method.kind() == ClientKind::Public {
        per_address(state, req, client.id.as_str())
    } else {
        client.id.as_str().to_owned()
    };
    if let Some(retry_after) = state.limiters.token_requests.hit(&budget_key) {
        return Err(limited(&state.limiters.token_requests, retry_after));
    }
    let request = TokenRequest::parse(&params)?;
    let grant_type = match &request {
        TokenRequest::AuthorizationCode { .. } => "authorization_code",
        TokenRequest::RefreshToken { .. } => "refresh_token",
        TokenRequest::ClientCredentials { .. } => "client_credentials",
    };
    let response = match request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resources,
        } => {
            authorization_code_grant(
                state,
                &client,
                &code,
                redirect_uri.as_deref(),
                &code_verifier,
                resources,
            )
            .await?
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
            resources,
        } => refresh_token_grant(state, &client, &refresh_token, scope.as_ref(), resources).await?,
        TokenRequest::ClientCredentials { scope, resources } => {
            client_credentials_grant(state, &client, scope, resources).await?
        }
    };
    METRICS.tokens_issued.with_label_values(&[grant_type]).inc();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

/// A 429 from `limiter`, counted.
pub fn limited(limiter: &crate::protect::Limiter, retry_after: u64) -> Error {
    METRICS.rate_limited.with_label_values(&[limiter.name()]).inc();
    Error::RateLimited { retry_after }
}

/// Finds the client and checks its credentials.
///
/// A request whose credentials verify is never refused by the failure limiter: failures are
/// counted per (client_id, address), so naming a client_id from elsewhere cannot lock the client
/// out, and nothing is counted for a public client, which has no secret to guess.
///
/// # Errors
/// `invalid_client` for an unknown client or bad credentials; `temporarily_unavailable` (429)
/// once this address has failed too often for this client_id.
pub async fn authenticate(state: &AppState, req: &HttpRequest, auth: &ClientAuth) -> Result<ClientRecord, Error> {
    let client = state.store.find_client(auth.client_id()).await.map_err(store_error)?;
    let (failure, guessable) = match client {
        Some(c) => match auth.verify(c.auth_method, c.secret_hash.as_ref()) {
            Ok(()) => return Ok(c),
            Err(e) => (e, c.auth_method.kind() != ClientKind::Public),
        },
        None => (
            Error::InvalidClient("unknown client_id; register the client with gatehouse client create".into()),
            true,
        ),
    };
    // `?` quotes the untrusted value, so it cannot forge fields in text logs.
    tracing::info!(target: "gatehouse::audit", event = "client_auth.failure", client_id = ?auth.client_id().as_str(), reason = %failure.code());
    if guessable {
        let limiter = &state.limiters.client_auth_failures;
        if let Some(retry_after) = limiter.hit(&per_address(state, req, auth.client_id().as_str())) {
            return Err(limited(limiter, retry_after));
        }
    }
    Err(failure)
}

/// A limiter key for `client_id` as named from this request's client address.
fn per_address(state: &AppState, req: &HttpRequest, client_id: &str) -> String {
    let ip = crate::protect::client_ip(req, &state.config.trusted_proxies);
    format!("{client_id}|{}", crate::protect::address_key(ip))
}

fn require_grant(client: &ClientRecord, grant: GrantType) -> Result<(), Error> {
    if client.grant_types.contains(&grant) {
        Ok(())
    } else {
        Err(Error::UnauthorizedClient(
            format!(
                "this client is not allowed the {grant} grant; add it with gatehouse client update --grant-type {grant}"
            )
            .into(),
        ))
    }
}

async fn authorization_code_grant(
    state: &AppState,
    client: &ClientRecord,
    code: &Secret,
    redirect_uri: Option<&str>,
    verifier: &CodeVerifier,
    resources: Vec<String>,
) -> Result<TokenResponse, Error> {
    require_grant(client, GrantType::AuthorizationCode)?;
    let hash = TokenHash::of(code.expose());
    let now = state.clock.now();
    let unknown = || {
        Error::InvalidGrant(
            "the code is unknown or expired; codes are single-use and live 60 seconds by default".into(),
        )
    };
    let (grant, consumed) = state
        .store
        .find_code(&hash, now)
        .await
        .map_err(store_error)?
        .ok_or_else(unknown)?;
    if consumed {
        return Err(replayed_code(state, &grant.grant_id, now).await);
    }
    // Checked before consuming, so a request that fails here leaves the code to its client.
    authorization_code::exchange(&grant, &client.id, redirect_uri, verifier, now)?;
    let audience = resource::narrow(&grant.resources, resources)?;
    let grant = match state.store.take_code(&hash, now).await.map_err(store_error)? {
        Taken::Fresh(g) => g,
        Taken::Replayed { grant_id } => return Err(replayed_code(state, &grant_id, now).await),
        Taken::NotFound => return Err(unknown()),
    };
    let user = live_user(state, &grant.subject).await?;
    let user_grant = UserGrant {
        user: &user,
        grant_id: &grant.grant_id,
        auth_time: grant.auth_time,
        session_id: grant.session_id.as_deref(),
        nonce: grant.nonce.as_deref(),
        claims: &grant.claims,
        audience: &audience,
        authorized_resources: &grant.resources,
        family_expires_at: now.plus(state.config.refresh_family_max_age.as_secs()),
    };
    let response = issue::user_tokens(state, client, &grant.scope, &user_grant, None, now).await?;
    tracing::info!(target: "gatehouse::audit", event = "token.issued", grant_type = "authorization_code", client_id = %client.id, sub = %user.id);
    Ok(response)
}

/// RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
async fn replayed_code(state: &AppState, grant_id: &str, now: gatehouse_protocol::types::UnixTime) -> Error {
    match state.store.revoke_grant(grant_id, now).await {
        Ok(n) => {
            METRICS.family_revocations.with_label_values(&["code_replay"]).inc();
            tracing::warn!(target: "gatehouse::audit", event = "code.replayed", revoked = n);
            Error::InvalidGrant("the code was already used; the tokens issued with it are now revoked".into())
        }
        Err(e) => store_error(e),
    }
}

async fn refresh_token_grant(
    state: &AppState,
    client: &ClientRecord,
    presented: &Secret,
    scope: Option<&ScopeSet>,
    resources: Vec<String>,
) -> Result<TokenResponse, Error> {
    require_grant(client, GrantType::RefreshToken)?;
    let hash = TokenHash::of(presented.expose());
    let now = state.clock.now();
    let current = match state.store.find_refresh_token(&hash, now).await.map_err(store_error)? {
        Some(current) => current,
        None => return retry_or_reuse(state, client, presented, scope, resources, now).await,
    };
    if current.client_id != client.id {
        return Err(Error::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    let narrowed = refresh_token::narrow_scope(&current.scope, scope, &client.scopes)?;
    let audience = resource::narrow(&current.audience, resources)?;
    let user = live_user(state, &current.subject).await?;
    let grant = refresh_grant(&current, &user, &audience);
    // The successor keeps the full granted scope, so a narrowed refresh can widen back later.
    let value = issue::successor_value(state, presented.expose());
    let (value, successor) = issue::refresh_record(state, client, &current.scope, &grant, value, now);
    let grace = state.config.refresh_reuse_grace_seconds;
    match state
        .store
        .rotate_refresh_token(&hash, Successor::of(&successor), now, grace)
        .await
        .map_err(store_error)?
    {
        Rotation::Rotated(_) => {}
        Rotation::Retried(_) => {} // a concurrent retry inside the grace period: same successor
        Rotation::Reused { family_id, .. } => return Err(reused(&family_id)),
        Rotation::NotFound => {
            return Err(Error::InvalidGrant(
                "the refresh token is unknown, expired or revoked".into(),
            ));
        }
    }
    let response = issue::user_tokens(state, client, &narrowed, &grant, Some(value), now).await?;
    tracing::info!(target: "gatehouse::audit", event = "token.issued", grant_type = "refresh_token", client_id = %client.id, sub = %user.id);
    Ok(response)
}

fn refresh_grant<'a>(
    current: &'a gatehouse_storage::RefreshTokenRecord,
    user: &'a UserRecord,
    audience: &'a [String],
) -> UserGrant<'a> {
    UserGrant {
        user,
        grant_id: &current.family_id,
        auth_time: current.auth_time,
        session_id: current.session_id.as_deref(),
        nonce: None,
        claims: &current.claims,
        audience,
        authorized_resources: &current.audience,
        family_expires_at: current.family_expires_at,
    }
}

/// A refresh token that is not live: within the grace period after its rotation, answer again
/// with its (derived, so identical) successor; otherwise it is a replay, which revokes the family.
async fn retry_or_reuse(
    state: &AppState,
    client: &ClientRecord,
    presented: &Secret,
    scope: Option<&ScopeSet>,
    resources: Vec<String>,
    now: gatehouse_protocol::types::UnixTime,
) -> Result<TokenResponse, Error> {
    let hash = TokenHash::of(presented.expose());
    match rotate_unknown(state, &hash, now).await? {
        Rotation::Retried(successor) if successor.client_id == client.id => {
            let narrowed = refresh_token::narrow_scope(&successor.scope, scope, &client.scopes)?;
            let audience = resource::narrow(&successor.audience, resources)?;
            let user = live_user(state, &successor.subject).await?;
            let grant = refresh_grant(&successor, &user, &audience);
            let value = issue::successor_value(state, presented.expose());
            tracing::info!(target: "gatehouse::audit", event = "refresh.retried_in_grace", client_id = %client.id, family = %successor.family_id);
            issue::user_tokens(state, client, &narrowed, &grant, Some(value), now).await
        }
        Rotation::Reused { family_id, .. } => Err(reused(&family_id)),
        _ => Err(Error::InvalidGrant(
            "the refresh token is unknown, expired or revoked".into(),
        )),
    }
}

/// Presents a token that is not live to the rotation contract, to learn whether it is a retry
/// within the grace period or a replay (which revokes its family).
async fn rotate_unknown(
    state: &AppState,
    hash: &TokenHash,
    now: gatehouse_protocol::types::UnixTime,
) -> Result<Rotation, Error> {
    // The successor is never stored: rotation only inserts it when the presented token is live.
    let placeholder = Successor {
        hash: TokenHash::of(&crate::random::random_token()),
        expires_at: now,
    };
    state
        .store
        .rotate_refresh_token(hash, placeholder, now, state.config.refresh_reuse_grace_seconds)
        .await
        .map_err(store_error)
}

fn reused(family_id: &str) -> Error {
    METRICS.family_revocations.with_label_values(&["reuse"]).inc();
    tracing::warn!(target: "gatehouse::audit", event = "refresh.reuse_detected", family = %family_id);
    Error::InvalidGrant("the refresh token was already used; as a precaution every token of this grant is now revoked (RFC 9700 section 4.14.2)".into())
}

async fn client_credentials_grant(
    state: &AppState,
    client: &ClientRecord,
    scope: Option<ScopeSet>,
    resources: Vec<String>,
) -> Result<TokenResponse, Error> {
    if client.auth_method.kind() == ClientKind::Public {
        return Err(Error::UnauthorizedClient(
            "public clients cannot use client_credentials: they have no secret".into(),
        ));
    }
    require_grant(client, GrantType::ClientCredentials)?;
    // User-facing scopes make no sense without a user; the default is every other allowed scope.
    const USER_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
    let scope = match scope {
        Some(s) => {
            if let Some(bad) = s
                .iter()
                .find(|x| !client.scopes.contains(x.as_str()) || USER_SCOPES.contains(&x.as_str()))
            {
                return Err(Error::InvalidScope(
                    format!(
                        "scope {} is not allowed for this client with client_credentials",
                        bad.as_str()
                    )
                    .into(),
                ));
            }
            s
        }
        None => client
            .scopes
            .iter()
            .filter(|s| !USER_SCOPES.contains(&s.as_str()))
            .cloned()
            .collect(),
    };
    resource::verify_allowed(&resources, &client.resources)?;
    let now = state.clock.now();
    let access_token = issue::access_token(state, client, &scope, &resources, None, now).await?;
    tracing::info!(target: "gatehouse::audit", event = "token.issued", grant_type = "client_credentials", client_id = %client.id);
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.config.access_token_ttl.as_secs(),
        scope: scope.to_param(),
        refresh_token: None,
        id_token: None,
    })
}

async fn live_user(state: &AppState, id: &str) -> Result<UserRecord, Error> {
    match state.store.find_user(id).await.map_err(store_error)? {
        Some(u) if !u.locked => Ok(u),
        Some(_) => Err(Error::InvalidGrant("the user's account is locked".into())),
        None => Err(Error::InvalidGrant("the user no longer exists".into())),
    }
}
