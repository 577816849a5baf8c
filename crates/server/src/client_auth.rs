//! Client authentication wherever a client authenticates (token, revocation, introspection, device
//! authorization; RFC 6749 §2.3, §3.2.1): secrets, and `private_key_jwt` assertions (RFC 7523)
//! checked with the client's keys and the replay store; with the failure limiter that guards
//! client secrets against guessing.

use crate::http::error::store_error;
use crate::http::params;
use crate::metrics::METRICS;
use crate::protect::Limiter;
use crate::state::AppState;
use actix_web::HttpRequest;
use gatehouse_protocol::Error;
use gatehouse_protocol::client_jwt::{self, AssertionRules, Purpose};
use gatehouse_protocol::grant::RegisteredClient;
use gatehouse_protocol::request::Params;
use gatehouse_protocol::request::client_auth::ClientAuth;
use gatehouse_protocol::types::{ClientKind, TokenHash, UnixTime};
use gatehouse_storage::ClientRecord;

/// Parses a form body (repeated parameters rejected, RFC 6749 §3.2) and authenticates the client
/// it or the `Authorization` header names.
///
/// # Errors
/// As [`authenticate`], and `invalid_request` for a malformed body.
pub async fn authenticate_form(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(ClientRecord, Params), Error> {
    let params = params::form(req, body)?;
    params.reject_repeats()?;
    let auth = ClientAuth::parse(params::authorization(req), &params)?;
    let client = authenticate(state, req, &auth).await?;
    Ok((client, params))
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
    let client = crate::clients::find(state, auth.client_id()).await?;
    let (failure, guessable) = match client {
        Some(c) => match check(state, req, auth, &c).await {
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

/// Checks the credentials: a secret against its stored hash, an assertion against the client's
/// keys.
async fn check(state: &AppState, req: &HttpRequest, auth: &ClientAuth, client: &ClientRecord) -> Result<(), Error> {
    match auth {
        ClientAuth::Assertion { assertion, .. } => {
            auth.verify_method(client.auth_method)?;
            verify_assertion(state, req, client, assertion.expose()).await
        }
        _ => auth.verify(client.auth_method, client.secret_hash.as_ref()),
    }
}

/// Clock skew tolerated on a client assertion's `exp` and `nbf`, in seconds.
const ASSERTION_SKEW: i64 = 60;

/// `private_key_jwt` (RFC 7523 §3, OIDC Core §9): the assertion verifies with one of the client's
/// registered keys and algorithm, its claims check out (`aud` is this server's issuer, or for a
/// legacy assertion the URL of this endpoint, built from the configured issuer), and its `jti` is
/// used for the first time, on any instance (the replay store, until `exp` and the skew).
async fn verify_assertion(state: &AppState, req: &HttpRequest, client: &ClientRecord, jwt: &str) -> Result<(), Error> {
    let invalid = |d: String| Error::InvalidClient(d.into());
    let verified = state
        .client_keys
        .verify(
            client,
            jwt,
            Purpose::ClientAssertion,
            client.token_endpoint_auth_signing_alg.as_deref(),
            "client assertion",
            Error::InvalidClient,
        )
        .await?;
    let now = state.clock.now();
    // The endpoint's URL, built from the issuer (never from the request's Host); at the PAR
    // endpoint the token endpoint's URL too (RFC 9126 §2: clients may reuse one assertion shape).
    let endpoint = format!("{}{}", state.issuer, req.path());
    let token_endpoint = format!("{}/oauth/token", state.issuer);
    let endpoints = [endpoint.as_str(), token_endpoint.as_str()];
    let legacy_urls = if req.path() == "/oauth/par" {
        &endpoints[..]
    } else {
        &endpoints[..1]
    };
    let rules = AssertionRules {
        client_id: client.id.as_str(),
        issuer: &state.issuer,
        endpoints: legacy_urls,
        strict_audience: client.strict_assertion_audience || state.config.strict_assertion_audience,
        now: now.0,
        skew: ASSERTION_SKEW,
    };
    let assertion = client_jwt::check_assertion(&verified, &rules).map_err(invalid)?;
    let key = TokenHash::of(&format!("{}\n{}", client.id, assertion.jti));
    let until = UnixTime(assertion.exp.saturating_add(ASSERTION_SKEW));
    if !state
        .store
        .first_use("client_assertion", &key, until, now)
        .await
        .map_err(store_error)?
    {
        return Err(invalid(
            "the client assertion's jti was already used; sign a new assertion, with a fresh jti, for every request"
                .into(),
        ));
    }
    Ok(())
}

/// What the grant decisions need to know about an authenticated client.
#[must_use]
pub fn registered(client: &ClientRecord) -> RegisteredClient<'_> {
    RegisteredClient {
        id: &client.id,
        kind: client.auth_method.kind(),
        grant_types: &client.grant_types,
        scopes: &client.scopes,
        resources: &client.resources,
    }
}

/// A limiter key for `client_id` as named from this request's client address.
#[must_use]
pub fn per_address(state: &AppState, req: &HttpRequest, client_id: &str) -> String {
    let ip = crate::protect::client_ip(req, &state.config.trusted_proxies);
    format!("{client_id}|{}", crate::protect::address_key(ip))
}

/// A 429 from `limiter`, counted.
#[must_use]
pub fn limited(limiter: &Limiter, retry_after: u64) -> Error {
    METRICS.rate_limited.with_label_values(&[limiter.name()]).inc();
    Error::RateLimited { retry_after }
}
