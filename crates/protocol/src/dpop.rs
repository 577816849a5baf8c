//! DPoP proofs (RFC 9449): the one validator of §4.3, used at every endpoint that takes a proof.
//! No I/O: the caller consumes the proof's `jti` through the replay store and checks the server
//! nonce (§8) when nonces are on.

use crate::client_jwt::{self, ClientKeys, Purpose, Rejection};
use crate::types::b64url;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The algorithms accepted for proofs by default: asymmetric only, never `none`, never HMAC.
pub const ALGORITHMS: &[&str] = &["ES256", "EdDSA", "PS256"];
/// The longest `jti` accepted.
pub const MAX_JTI: usize = 256;

/// What a proof is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The endpoint's URL, built from the configured issuer (never from `Host`).
    pub url: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// How far `iat` may be from now, either way, in seconds.
    pub window: i64,
    /// The access token presented with the proof, at a resource: its hash must be `ath`.
    pub access_token: Option<&'a str>,
    /// Whether RS256 proofs are accepted (`GATEHOUSE_DPOP_RS256`).
    pub allow_rs256: bool,
}

/// Why a proof was refused: a reason from a small fixed set (for metrics) and the description for
/// `error_description`, naming the check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `missing`, `repeated`, `malformed`, `typ`, `alg`, `key`, `signature`, `jti`, `htm`, `htu`,
    /// `iat` or `ath`.
    pub reason: &'static str,
    /// What is wrong.
    pub description: String,
}

fn refusal(reason: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        description: description.into(),
    }
}

/// A proof that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of its key: what tokens are bound to (`cnf.jkt`).
    pub jkt: String,
    /// Its `jti`, to be consumed through the replay store.
    pub jti: String,
    /// Its `iat`.
    pub iat: i64,
    /// Its `nonce`, if any: the caller compares it with the server's.
    pub nonce: Option<String>,
}

/// Checks the `DPoP` header values of a request (RFC 9449 §4.3): exactly one, a well-formed
/// `dpop+jwt` signed with an accepted asymmetric algorithm by the public key in its own header,
/// `htm` the method, `htu` this endpoint (query and fragment ignored, scheme and host case and
/// default ports normalised), `iat` within the window, and `ath` the hash of the access token
/// when one is presented.
///
/// # Errors
/// A [`Refusal`] for `invalid_dpop_proof`.
pub fn check_proof(values: &[&str], check: &ProofCheck<'_>) -> Result<Proof, Refusal> {
    let jwt = match values {
        [one] => one.trim(),
        [] => {
            return Err(refusal(
                "missing",
                "no DPoP proof was sent; send one in the DPoP header",
            ));
        }
        _ => return Err(refusal("repeated", "exactly one DPoP header is allowed")),
    };
    let header = client_jwt::check_header(jwt, Purpose::DpopProof, None).map_err(|r| rejected(&r))?;
    if header.typ.is_none() {
        return Err(refusal("typ", "the DPoP proof has no typ; it must be dpop+jwt"));
    }
    let alg = format!("{:?}", header.alg);
    let accepted = ALGORITHMS.contains(&alg.as_str()) || (alg == "RS256" && check.allow_rs256);
    if !accepted {
        return Err(refusal(
            "alg",
            format!(
                "the DPoP proof is signed with {alg}, which is not accepted; use {}",
                ALGORITHMS.join(", ")
            ),
        ));
    }
    let jwk = raw_header(jwt).and_then(|h| h.get("jwk").cloned()).ok_or_else(|| {
        refusal(
            "key",
            "the DPoP proof has no jwk header; it must carry the public key it is signed with",
        )
    })?;
    let keys =
        ClientKeys::single(&jwk).map_err(|e| refusal("key", format!("the DPoP proof's jwk is not usable: {e}")))?;
    let jkt =
        client_jwt::thumbprint(&jwk).ok_or_else(|| refusal("key", "the DPoP proof's jwk lacks a required member"))?;
    let claims = client_jwt::verify_embedded(jwt, Purpose::DpopProof, &keys)
        .map_err(|r| rejected(&r))?
        .claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or_else(|| refusal("jti", "the DPoP proof has no jti (a unique id of up to 256 characters)"))?;
    match text("htm") {
        Some(m) if m == check.method => {}
        Some(m) => {
            return Err(refusal(
                "htm",
                format!("the DPoP proof's htm is {m}, but this request is {}", check.method),
            ));
        }
        None => return Err(refusal("htm", "the DPoP proof has no htm (the HTTP method)")),
    }
    let htu = text("htu").ok_or_else(|| refusal("htu", "the DPoP proof has no htu (the URL of this endpoint)"))?;
    if normalise(htu).is_none_or(|u| Some(u) != normalise(check.url)) {
        return Err(refusal(
            "htu",
            format!("the DPoP proof's htu is {htu}, but this endpoint is {}", check.url),
        ));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| refusal("iat", "the DPoP proof has no iat (a number of seconds)"))?;
    if iat.saturating_sub(check.now).saturating_abs() > check.window {
        return Err(refusal(
            "iat",
            format!(
                "the DPoP proof's iat is {} seconds from this server's time; at most {} are accepted (check the client's clock)",
                iat.saturating_sub(check.now),
                check.window
            ),
        ));
    }
    if let Some(token) = check.access_token {
        let expected = access_token_hash(token);
        match text("ath") {
            // Both sides come from the caller (the token and its hash): nothing secret to time.
            Some(a) if a == expected => {}
            Some(_) => {
                return Err(refusal(
                    "ath",
                    "the DPoP proof's ath is not the hash of the access token sent with it",
                ));
            }
            None => {
                return Err(refusal(
                    "ath",
                    "the DPoP proof has no ath (the hash of the access token)",
                ));
            }
        }
    }
    Ok(Proof {
        jkt,
        jti: jti.to_owned(),
        iat,
        nonce: text("nonce").map(str::to_owned),
    })
}

/// `ath`: base64url SHA-256 of the access token (RFC 9449 §4.2).
#[must_use]
pub fn access_token_hash(token: &str) -> String {
    b64url(&Sha256::digest(token.as_bytes()))
}

fn rejected(r: &Rejection) -> Refusal {
    match r {
        Rejection::UnknownKey(_) => refusal("key", "the DPoP proof's jwk does not fit its algorithm"),
        Rejection::Signature => refusal("signature", r.describe("DPoP proof")),
        Rejection::Type(_) => refusal("typ", r.describe("DPoP proof")),
        Rejection::Algorithm(_) => refusal("alg", r.describe("DPoP proof")),
        Rejection::Malformed(_) => refusal("malformed", r.describe("DPoP proof")),
    }
}

fn raw_header(jwt: &str) -> Option<Value> {
    let bytes = crate::types::b64url_decode(jwt.split('.').next()?)?;
    serde_json::from_slice(&bytes).ok()
}

/// A URL as RFC 9449 §4.3 compares them: scheme and host lower-cased and default ports dropped (by
/// the URL parser), path kept, query and fragment removed.
fn normalise(u: &str) -> Option<String> {
    let url = url::Url::parse(u).ok()?;
    let host = url.host_str()?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{}://{host}{port}{}", url.scheme(), url.path()))
}

#[cfg(test)]
mod tests;
