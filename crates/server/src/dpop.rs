//! DPoP (RFC 9449) at the server: the proof a request carries, checked by the one validator
//! (`gatehouse_protocol::dpop`), its `jti` consumed through the replay store (so a proof is
//! accepted once across every instance), and the stateless server nonces of §8.

use crate::http::error::store_error;
use crate::metrics::METRICS;
use crate::state::AppState;
use actix_web::HttpRequest;
use gatehouse_protocol::Error;
use gatehouse_protocol::dpop::{self, Proof, ProofCheck};
use gatehouse_protocol::types::{TokenHash, UnixTime};

/// The DPoP proof of this request to `path`, checked ([`check`]) and used up ([`consume`]).
///
/// # Errors
/// As [`check`] and [`consume`].
pub async fn proof(
    state: &AppState,
    req: &HttpRequest,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, Error> {
    let proof = check(state, req, path, access_token)?;
    if let Some(p) = &proof {
        consume(state, p).await?;
    }
    Ok(proof)
}

/// The DPoP proof of this request to `path`, if it carries a `DPoP` header, checked but not yet
/// used up; `access_token` at a resource, whose hash the proof's `ath` must be. Nothing is written:
/// endpoints that authenticate clients check the proof (and its nonce) first, and use it up only
/// once the client is known, so anonymous requests cannot make the server write.
///
/// # Errors
/// `invalid_dpop_proof` naming the check that failed; `use_dpop_nonce` with a fresh nonce when
/// nonces are on and the proof lacks a current one.
pub fn check(
    state: &AppState,
    req: &HttpRequest,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, Error> {
    let headers: Vec<_> = req.headers().get_all("dpop").collect();
    if headers.is_empty() {
        return Ok(None);
    }
    let values: Vec<&str> = headers.iter().map(|v| v.to_str().unwrap_or("")).collect();
    let now = state.clock.now();
    let url = format!("{}{path}", state.issuer);
    let check = ProofCheck {
        method: req.method().as_str(),
        url: &url,
        now: now.0,
        window: state.config.dpop_window.as_secs().try_into().unwrap_or(i64::MAX),
        access_token,
        allow_rs256: state.config.dpop_rs256,
    };
    let proof = dpop::check_proof(&values, &check).map_err(|r| refused(r.reason, r.description))?;
    if let Some(nonces) = &state.dpop_nonces
        && !proof.nonce.as_deref().is_some_and(|n| nonces.accepts(n, now.0))
    {
        METRICS.dpop_refused.with_label_values(&["nonce"]).inc();
        return Err(Error::UseDpopNonce {
            nonce: nonces.current(now.0),
        });
    }
    Ok(Some(proof))
}

/// Uses up a checked proof: its `jti` is remembered for as long as its `iat` could be accepted,
/// once per key, on every instance (one atomic statement).
///
/// # Errors
/// `invalid_dpop_proof` for a proof already used; store errors.
pub async fn consume(state: &AppState, proof: &Proof) -> Result<(), Error> {
    let now = state.clock.now();
    let window: i64 = state.config.dpop_window.as_secs().try_into().unwrap_or(i64::MAX);
    let key = TokenHash::of(&format!("{}\n{}", proof.jkt, proof.jti));
    let until = UnixTime(proof.iat.saturating_add(window).saturating_add(1));
    if !state
        .store
        .first_use("dpop", &key, until, now)
        .await
        .map_err(store_error)?
    {
        return Err(refused(
            "replay",
            "the DPoP proof's jti was already used; make a new proof, with a fresh jti, for every request".into(),
        ));
    }
    Ok(())
}

/// The proof algorithms accepted, space-separated, for `WWW-Authenticate: DPoP algs=…`.
#[must_use]
pub fn algs(state: &AppState) -> &'static str {
    if state.config.dpop_rs256 {
        "ES256 EdDSA PS256 RS256"
    } else {
        "ES256 EdDSA PS256"
    }
}

/// The nonce to offer in a successful response when nonces are on (RFC 9449 §8.2).
#[must_use]
pub fn fresh_nonce(state: &AppState) -> Option<String> {
    state.dpop_nonces.as_ref().map(|n| n.current(state.clock.now().0))
}

/// `invalid_dpop_proof`, counted under `reason`.
#[must_use]
pub fn refused(reason: &'static str, description: String) -> Error {
    METRICS.dpop_refused.with_label_values(&[reason]).inc();
    Error::InvalidDpopProof(description.into())
}

/// Whether a token bound to `bound` may be used with a proof by the key `presented`: an unbound
/// token with anything, a bound one only with a proof by its key.
///
/// # Errors
/// The description for the caller's error, naming what is missing.
pub fn matches_binding(bound: Option<&str>, presented: Option<&str>) -> Result<(), String> {
    match (bound, presented) {
        (None, _) => Ok(()),
        (Some(jkt), Some(p)) if p == jkt => Ok(()),
        (Some(_), Some(_)) => Err("it is bound to another DPoP key than the one that signed this proof".into()),
        (Some(_), None) => Err("it is bound to a DPoP key; send a DPoP proof signed with that key".into()),
    }
}
