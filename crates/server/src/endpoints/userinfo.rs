//! `GET|POST /oauth/userinfo` (OIDC Core §5.3): claims for the user of an access token, sent as
//! `Bearer`, or as `DPoP` with a proof when it is bound to a key (RFC 9449 §7).

use crate::http::error::{ApiError, Challenge, store_error};
use crate::http::params;
use crate::issue::released;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::types::UnixTime;

/// `GET /oauth/userinfo`: the token in the `Authorization` header.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let token = required(&state, presented(&req, None).map_err(err)?)?;
    respond(&state, &req, &token, now).await
}

/// `POST /oauth/userinfo`: the token in the header or the form body (RFC 6750 §2.2), not both.
pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let form = if body.is_empty() {
        None
    } else {
        Some(params::form(&req, &body).map_err(err)?)
    };
    let token = required(&state, presented(&req, form.as_ref()).map_err(err)?)?;
    respond(&state, &req, &token, now).await
}

fn err(e: Error) -> ApiError {
    ApiError::bearer(e)
}

/// An access token as presented: with the `Bearer` scheme (or in the body), or with `DPoP`
/// (RFC 9449 §7.1, scheme names without case).
struct Presented {
    token: String,
    dpop: bool,
}

/// The access token of the request; `Ok(None)` when the request carries no credentials at all.
fn presented(
    req: &HttpRequest,
    form: Option<&gatehouse_protocol::request::Params>,
) -> Result<Option<Presented>, Error> {
    let header = params::authorization(req).map(|h| {
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        (scheme.to_ascii_lowercase(), rest.trim().to_owned())
    });
    let body = form.map(|f| f.get("access_token")).transpose()?.flatten();
    match (header, body) {
        (Some(_), Some(_)) => Err(invalid_request(
            "send the access token once: in the Authorization header or the body, not both",
        )),
        (Some((scheme, token)), None) if !token.is_empty() && (scheme == "bearer" || scheme == "dpop") => {
            Ok(Some(Presented {
                token,
                dpop: scheme == "dpop",
            }))
        }
        (Some(_), None) => Err(Error::InvalidToken(
            "the Authorization header must be: Bearer <access token> (or DPoP <access token> with a DPoP proof)".into(),
        )),
        (None, Some(token)) => Ok(Some(Presented {
            token: token.to_owned(),
            dpop: false,
        })),
        (None, None) => Ok(None),
    }
}

/// The token, or the answer to a request without one: RFC 6750 §3.1 says such a challenge carries
/// no error code (the body still says what to send).
fn required(state: &AppState, token: Option<Presented>) -> Result<Presented, ApiError> {
    token.ok_or_else(|| ApiError {
        error: Error::InvalidToken("an access token is required: send Authorization: Bearer <token>".into()),
        challenge: Challenge::BearerBare(crate::dpop::algs(state)),
    })
}

async fn respond(
    state: &AppState,
    req: &HttpRequest,
    presented: &Presented,
    now: UnixTime,
) -> Result<HttpResponse, ApiError> {
    // A bound token gets the DPoP challenge whichever scheme it came with (RFC 9449 §7.1).
    let mut bound = false;
    let (claims, client_id) = claims(state, req, presented, &mut bound, now).await.map_err(|error| {
        let challenge = if presented.dpop || bound {
            Challenge::Dpop(crate::dpop::algs(state))
        } else {
            Challenge::Bearer
        };
        ApiError { error, challenge }
    })?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(nonce) = crate::dpop::fresh_nonce(state).filter(|_| presented.dpop) {
        res.insert_header(("DPoP-Nonce", nonce));
    }
    let client = state
        .store
        .find_client(&client_id)
        .await
        .map_err(|e| ApiError::bearer(store_error(e)))?;
    match client.and_then(|c| c.userinfo_alg) {
        Some(alg) => Ok(res
            .content_type("application/jwt")
            .body(signed(state, claims, &client_id, alg).map_err(ApiError::bearer)?)),
        None => Ok(res.json(claims)),
    }
}

/// OIDC Core §5.3.2: the claims as a JWT signed with the client's registered algorithm, with
/// `iss` and `aud`.
fn signed(
    state: &AppState,
    mut claims: serde_json::Map<String, serde_json::Value>,
    client_id: &gatehouse_protocol::types::ClientId,
    alg: gatehouse_protocol::types::SigningAlg,
) -> Result<String, Error> {
    claims.insert("iss".into(), serde_json::json!(state.issuer));
    claims.insert("aud".into(), serde_json::json!(client_id));
    let keys = state.keys();
    let key = keys
        .signer(alg)
        .ok_or_else(|| Error::Server(format!("no active {alg} key to sign userinfo with")))?;
    key.sign(&claims, "JWT")
        .map_err(|e| Error::Server(format!("sign userinfo: {e}")))
}

/// The claims for a presented token: live, for a user, with `openid`, and used as it is bound
/// (RFC 9449 §7.1: a DPoP-bound token only with `DPoP` and a proof by its key).
async fn claims(
    state: &AppState,
    req: &HttpRequest,
    presented: &Presented,
    bound: &mut bool,
    now: UnixTime,
) -> Result<
    (
        serde_json::Map<String, serde_json::Value>,
        gatehouse_protocol::types::ClientId,
    ),
    Error,
> {
    let token = presented.token.as_str();
    let proof = proof(state, req, presented).await?;
    let inactive = || Error::InvalidToken("the access token is unknown, expired or revoked".into());
    let record = crate::issue::find_access_token(state, token, now)
        .await
        .map_err(store_error)?
        .ok_or_else(inactive)?;
    *bound = record.dpop_jkt.is_some();
    check_binding(record.dpop_jkt.as_deref(), proof.as_ref())?;
    let Some(subject) = &record.subject else {
        return Err(Error::InvalidToken(
            "this access token has no user (client_credentials); userinfo needs a user's token".into(),
        ));
    };
    if !record.scope.contains("openid") {
        return Err(Error::InsufficientScope(
            "userinfo needs an access token granted the openid scope".into(),
        ));
    }
    let user = state
        .store
        .find_user(subject)
        .await
        .map_err(store_error)?
        .ok_or_else(|| Error::InvalidToken("the user of this access token no longer exists".into()))?;
    if user.locked {
        return Err(Error::InvalidToken("the account of this access token is locked".into()));
    }
    let mut claims = released(&user, &record.scope, &record.claims.userinfo);
    claims.insert("sub".into(), serde_json::json!(user.id));
    Ok((claims, record.client_id))
}

/// The proof that must come with a token sent with the `DPoP` scheme.
async fn proof(
    state: &AppState,
    req: &HttpRequest,
    presented: &Presented,
) -> Result<Option<gatehouse_protocol::dpop::Proof>, Error> {
    if !presented.dpop {
        return Ok(None);
    }
    let proof = crate::dpop::proof(state, req, "/oauth/userinfo", Some(&presented.token)).await?;
    proof.map(Some).ok_or_else(|| {
        crate::dpop::refused(
            "missing",
            "a token sent with the DPoP scheme needs a DPoP proof in the DPoP header".into(),
        )
    })
}

/// RFC 9449 §7.1: a bound token only with `DPoP` and a proof by its key; an unbound one only as
/// `Bearer`.
fn check_binding(bound: Option<&str>, proof: Option<&gatehouse_protocol::dpop::Proof>) -> Result<(), Error> {
    match (bound, proof) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(Error::InvalidToken(
            "this access token is bound to a DPoP key: send it as Authorization: DPoP <token> with a DPoP proof signed by that key".into(),
        )),
        (None, Some(_)) => Err(Error::InvalidToken(
            "this access token is not bound to a DPoP key: send it as Authorization: Bearer <token>".into(),
        )),
        (Some(jkt), Some(p)) if p.jkt == jkt => Ok(()),
        (Some(_), Some(_)) => Err(crate::dpop::refused(
            "binding",
            "the DPoP proof is signed by another key than the one this access token is bound to".into(),
        )),
    }
}
