//! Intake of JWTs that clients sign: client assertions (RFC 7523, OIDC Core §9 `private_key_jwt`)
//! and request objects (RFC 9101); DPoP proofs will come through here too. One verifier for all of
//! them, so every purpose gets the same checks:
//!
//! - the compact form is parsed once, with size and shape limits, before any key is touched;
//! - the algorithm must be on the purpose's allow-list (RS256, PS256, ES256, EdDSA; never `none`,
//!   never HMAC: a shared-secret JWT is not accepted here) and equal the client's registered one
//!   when it registered one;
//! - an explicit `typ` must be the purpose's own (or the generic `JWT`), so an ID token, a logout
//!   token or a DPoP proof can never pass as a client assertion (RFC 8725 §3.11);
//! - keys come from the client's JWKS, public keys only: a JWKS holding a private or symmetric key
//!   is refused whole, as the client has leaked it;
//! - the signature is checked by `jsonwebtoken` on aws-lc-rs; time and audience rules are checked
//!   here, against the caller's `now`.

mod keys;

pub use jsonwebtoken::Algorithm;
use jsonwebtoken::Validation;
pub use keys::{ClientKeys, thumbprint};
use serde_json::{Map, Value};

/// The longest JWT read, in bytes: assertions and request objects are far shorter.
pub const MAX_JWT: usize = 16 * 1024;
/// The longest JWKS read, in bytes.
pub const MAX_JWKS: usize = 64 * 1024;
/// The most keys a client's JWKS may hold.
pub const MAX_KEYS: usize = 20;
/// How far a client assertion's `exp` may lie ahead (RFC 7523 §3: short-lived).
pub const MAX_ASSERTION_LIFETIME: i64 = 300;

/// What a client-signed JWT is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `client_assertion` (RFC 7523 §2.2).
    ClientAssertion,
    /// `request` (RFC 9101).
    RequestObject,
    /// A DPoP proof (RFC 9449 §4.2), verified with the key in its own header.
    DpopProof,
}

impl Purpose {
    /// The algorithms accepted for this purpose.
    #[must_use]
    pub fn algorithms(self) -> &'static [Algorithm] {
        &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA]
    }

    /// The purpose's own media type for `typ` (RFC 7523bis, RFC 9101 §10.8).
    #[must_use]
    pub fn typ(self) -> &'static str {
        match self {
            Self::ClientAssertion => "client-authentication+jwt",
            Self::RequestObject => "oauth-authz-req+jwt",
            Self::DpopProof => "dpop+jwt",
        }
    }

    /// Whether an explicit `typ` is acceptable: the purpose's own, or the generic `JWT`
    /// (compared without case and without an `application/` prefix, RFC 7515 §4.1.9).
    #[must_use]
    pub fn accepts_typ(self, typ: &str) -> bool {
        let t = typ.to_ascii_lowercase();
        let t = t.strip_prefix("application/").unwrap_or(&t);
        // A DPoP proof must say what it is (RFC 9449 §4.2); the others may be generic JWTs.
        t == self.typ() || (t == "jwt" && self != Self::DpopProof)
    }
}

/// Reads a registered signing algorithm (`token_endpoint_auth_signing_alg`,
/// `request_object_signing_alg`): one of the accepted ones.
///
/// # Errors
/// What to use instead.
pub fn parse_alg(name: &str) -> Result<Algorithm, String> {
    name.parse::<Algorithm>()
        .ok()
        .filter(|a| Purpose::ClientAssertion.algorithms().contains(a))
        .ok_or_else(|| format!("{name} is not accepted; use RS256, PS256, ES256 or EdDSA"))
}

/// Why a client-signed JWT was refused; [`Rejection::describe`] says it for an
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not a well-formed compact JWS.
    Malformed(String),
    /// The algorithm is not accepted for this purpose or this client.
    Algorithm(String),
    /// An explicit `typ` of another purpose.
    Type(String),
    /// No key of the client matches (`kid` named, or none matching the algorithm): a JWKS
    /// fetched from `jwks_uri` may be refetched once.
    UnknownKey(String),
    /// The signature does not verify with the key.
    Signature,
}

impl Rejection {
    /// The description, naming what is wrong.
    #[must_use]
    pub fn describe(&self, what: &str) -> String {
        match self {
            Self::Malformed(why) => format!("the {what} is not a well-formed JWT: {why}"),
            Self::Algorithm(why) => format!("the {what} {why}"),
            Self::Type(typ) => format!("the {what} has typ {typ}, which is not a {what}"),
            Self::UnknownKey(which) => format!("the {what} is signed with {which}, which is not in the client's keys"),
            Self::Signature => format!("the {what}'s signature does not verify with the client's key"),
        }
    }
}

/// A client-signed JWT whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The algorithm it was signed with.
    pub alg: Algorithm,
    /// Its explicit `typ`, if any.
    pub typ: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
}

/// Verifies a client-signed JWT for `purpose` with the client's keys (and its registered
/// algorithm, if any). Claims are not checked here: see [`check_assertion`].
///
/// # Errors
/// A [`Rejection`] naming what is wrong.
pub fn verify(
    jwt: &str,
    purpose: Purpose,
    keys: &ClientKeys,
    registered: Option<Algorithm>,
) -> Result<Verified, Rejection> {
    let header = check_header(jwt, purpose, registered)?;
    let key = keys.find(header.kid.as_deref(), header.alg)?;
    signed_with(jwt, header, key)
}

/// Verifies a JWT with the only key of `keys` that fits its algorithm, whatever `kid` its header
/// names: a DPoP proof carries its key in its header (RFC 9449 §4.2).
///
/// # Errors
/// A [`Rejection`] naming what is wrong.
pub fn verify_embedded(jwt: &str, purpose: Purpose, keys: &ClientKeys) -> Result<Verified, Rejection> {
    let header = check_header(jwt, purpose, None)?;
    let key = keys.find(None, header.alg)?;
    signed_with(jwt, header, key)
}

/// Checks the signature with `key` and reads the claims (time and audience are the caller's).
fn signed_with(jwt: &str, header: jsonwebtoken::Header, key: &keys::ClientKey) -> Result<Verified, Rejection> {
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => Rejection::Signature,
        _ => Rejection::Malformed(e.to_string()),
    })?;
    Ok(Verified {
        alg: header.alg,
        typ: header.typ,
        claims: data.claims,
    })
}

/// Everything [`verify`] checks before it looks for a key: the shape, the algorithm and the
/// `typ`. Callers whose keys cost a fetch check this first, so garbage never causes one.
///
/// # Errors
/// A [`Rejection`] naming what is wrong.
pub fn check_header(
    jwt: &str,
    purpose: Purpose,
    registered: Option<Algorithm>,
) -> Result<jsonwebtoken::Header, Rejection> {
    if jwt.len() > MAX_JWT {
        return Err(Rejection::Malformed(format!("longer than {MAX_JWT} bytes")));
    }
    if jwt.split('.').count() != 3 {
        return Err(Rejection::Malformed("a JWS has three dot-separated parts".into()));
    }
    if raw_alg(jwt).is_some_and(|a| a.eq_ignore_ascii_case("none")) {
        return Err(Rejection::Algorithm(
            "is unsigned (alg none), which is never accepted; sign it with RS256, PS256, ES256 or EdDSA".into(),
        ));
    }
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| Rejection::Malformed(format!("its header: {e}")))?;
    if !purpose.algorithms().contains(&header.alg) {
        return Err(Rejection::Algorithm(format!(
            "is signed with {:?}, which is not accepted; use RS256, PS256, ES256 or EdDSA",
            header.alg
        )));
    }
    if let Some(want) = registered
        && want != header.alg
    {
        return Err(Rejection::Algorithm(format!(
            "is signed with {:?}, but the client registered {want:?}",
            header.alg
        )));
    }
    if let Some(typ) = header.typ.as_deref()
        && !purpose.accepts_typ(typ)
    {
        return Err(Rejection::Type(typ.to_owned()));
    }
    Ok(header)
}

/// The `alg` a JWT's header names, read without judging anything else (to name `none` plainly).
fn raw_alg(jwt: &str) -> Option<String> {
    let header = crate::types::b64url_decode(jwt.split('.').next()?)?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header["alg"].as_str().map(str::to_owned)
}

/// What a client assertion is checked against (RFC 7523 §3).
#[derive(Debug, Clone, Copy)]
pub struct AssertionRules<'a> {
    /// The authenticating client.
    pub client_id: &'a str,
    /// This server's issuer identifier.
    pub issuer: &'a str,
    /// The endpoint URLs a legacy `aud` may name: the endpoint the assertion was sent to (and at
    /// the PAR endpoint the token endpoint too, RFC 9126 §2).
    pub endpoints: &'a [&'a str],
    /// Accept only the issuer as `aud` (the client's or the server's strict setting).
    pub strict_audience: bool,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// Clock skew tolerated, in seconds.
    pub skew: i64,
}

/// A client assertion's claims, once they checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// Its `jti`, to be consumed through the replay store.
    pub jti: String,
    /// Its `exp`: the `jti` is remembered until then (plus the skew).
    pub exp: i64,
}

/// Checks a verified client assertion's claims: `iss` and `sub` are the client; `aud` is the
/// issuer identifier (always accepted, draft-ietf-oauth-rfc7523bis), or the endpoint URL or an
/// array holding the issuer (accepted only from legacy assertions: no explicit assertion `typ`,
/// and not with a strict audience, against the 2025 audience-injection attacks); `exp` present,
/// not past and at most [`MAX_ASSERTION_LIFETIME`] ahead; `jti` present.
///
/// # Errors
/// The description for `invalid_client`, naming the claim at fault.
pub fn check_assertion(v: &Verified, rules: &AssertionRules<'_>) -> Result<Assertion, String> {
    let text = |name: &str| v.claims.get(name).and_then(Value::as_str);
    for claim in ["iss", "sub"] {
        match text(claim) {
            Some(c) if c == rules.client_id => {}
            Some(other) => {
                return Err(format!(
                    "the client assertion's {claim} is {other}; it must be the client_id {}",
                    rules.client_id
                ));
            }
            None => return Err(format!("the client assertion has no {claim}; it must be the client_id")),
        }
    }
    let explicit = v.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("jwt"));
    let legacy = !explicit && !rules.strict_audience;
    let audience_ok = match v.claims.get("aud") {
        Some(Value::String(a)) if a == rules.issuer => true,
        Some(Value::String(a)) => legacy && rules.endpoints.contains(&a.as_str()),
        Some(Value::Array(list)) => legacy && list.iter().any(|a| a.as_str() == Some(rules.issuer)),
        _ => false,
    };
    if !audience_ok {
        return Err(format!(
            "the client assertion's aud must be this server's issuer identifier {} as a single string",
            rules.issuer
        ));
    }
    let exp = v
        .claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("the client assertion has no exp (a number of seconds)")?;
    // Saturating: the claims are the client's, and any number must be judged, not overflow.
    if exp.saturating_add(rules.skew) < rules.now {
        return Err(format!(
            "the client assertion's exp is in the past by {} seconds",
            rules.now.saturating_sub(exp)
        ));
    }
    if exp > rules.now + MAX_ASSERTION_LIFETIME + rules.skew {
        return Err(format!(
            "the client assertion's exp is {} seconds ahead; at most {MAX_ASSERTION_LIFETIME} are accepted",
            exp.saturating_sub(rules.now)
        ));
    }
    match v.claims.get("nbf").map(Value::as_i64) {
        Some(None) => return Err("the client assertion's nbf is not a number of seconds".into()),
        Some(Some(nbf)) if nbf > rules.now + rules.skew => {
            return Err(format!(
                "the client assertion's nbf is {} seconds ahead",
                nbf.saturating_sub(rules.now)
            ));
        }
        _ => {}
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("the client assertion has no jti (a unique id of up to 256 characters)")?;
    Ok(Assertion {
        jti: jti.to_owned(),
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use proptest::prelude::*;
    use serde_json::json;

    const ISSUER: &str = "https://id.example.com";
    const NOW: i64 = 1_800_000_000;

    use crate::test_keys::pair;

    fn keys(jwks: &[&Value]) -> ClientKeys {
        ClientKeys::parse(&json!({ "keys": jwks }).to_string()).unwrap()
    }

    fn assertion_claims() -> Value {
        json!({"iss": "app", "sub": "app", "aud": ISSUER, "exp": NOW + 60, "iat": NOW, "jti": "j1"})
    }

    fn sign(key: &EncodingKey, alg: Algorithm, kid: Option<&str>, typ: Option<&str>, claims: &Value) -> String {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_owned);
        h.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&h, claims, key).unwrap()
    }

    fn rules(strict: bool) -> AssertionRules<'static> {
        AssertionRules {
            client_id: "app",
            issuer: ISSUER,
            endpoints: &["https://id.example.com/oauth/token"],
            strict_audience: strict,
            now: NOW,
            skew: 30,
        }
    }

    #[test]
    fn assertions_of_every_accepted_algorithm_verify_and_check_out() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS256, Algorithm::RS256] {
            let (key, jwk) = pair(alg, "k1");
            let jwt = sign(
                &key,
                alg,
                Some("k1"),
                Some("client-authentication+jwt"),
                &assertion_claims(),
            );
            let v = verify(&jwt, Purpose::ClientAssertion, &keys(&[&jwk]), None).unwrap();
            assert_eq!(v.alg, alg);
            let a = check_assertion(&v, &rules(true)).unwrap();
            assert_eq!(
                a,
                Assertion {
                    jti: "j1".into(),
                    exp: NOW + 60
                }
            );
            // Without a kid, the only key of the type is used.
            let no_kid = sign(&key, alg, None, None, &assertion_claims());
            assert!(
                verify(&no_kid, Purpose::ClientAssertion, &keys(&[&jwk]), None).is_ok(),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn wrong_algorithms_types_keys_and_signatures_are_refused() {
        let (key, jwk) = pair(Algorithm::ES256, "k1");
        let (other, other_jwk) = pair(Algorithm::ES256, "k2");
        let set = keys(&[&jwk]);
        let claims = assertion_claims();
        let v = |jwt: &str| verify(jwt, Purpose::ClientAssertion, &set, None);
        // Another purpose's typ: a DPoP proof or an ID token never passes as an assertion.
        for typ in ["dpop+jwt", "logout+jwt", "at+jwt", "oauth-authz-req+jwt"] {
            let jwt = sign(&key, Algorithm::ES256, Some("k1"), Some(typ), &claims);
            assert_eq!(v(&jwt), Err(Rejection::Type(typ.into())));
        }
        assert!(
            v(&sign(
                &key,
                Algorithm::ES256,
                Some("k1"),
                Some("application/JWT"),
                &claims
            ))
            .is_ok()
        );
        // The wrong key, and a kid the client does not have.
        assert_eq!(
            v(&sign(&other, Algorithm::ES256, Some("k1"), None, &claims)),
            Err(Rejection::Signature)
        );
        assert!(matches!(
            v(&sign(&other, Algorithm::ES256, Some("k2"), None, &claims)),
            Err(Rejection::UnknownKey(_))
        ));
        // A registered algorithm is enforced.
        let jwt = sign(&key, Algorithm::ES256, Some("k1"), None, &claims);
        assert!(matches!(
            verify(&jwt, Purpose::ClientAssertion, &set, Some(Algorithm::PS256)),
            Err(Rejection::Algorithm(_))
        ));
        // alg none, and HS256 keyed with the public key (key confusion).
        let payload = jwt.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", crate::types::b64url(br#"{"alg":"none","kid":"k1"}"#));
        assert!(matches!(
            v(&none),
            Err(Rejection::Malformed(_) | Rejection::Algorithm(_))
        ));
        let hs = sign(
            &EncodingKey::from_secret(jwk.to_string().as_bytes()),
            Algorithm::HS256,
            Some("k1"),
            None,
            &claims,
        );
        assert!(matches!(v(&hs), Err(Rejection::Algorithm(_))));
        // Two keys of one type and no kid: ambiguous.
        let two = keys(&[&jwk, &other_jwk]);
        let no_kid = sign(&key, Algorithm::ES256, None, None, &claims);
        assert!(matches!(
            verify(&no_kid, Purpose::ClientAssertion, &two, None),
            Err(Rejection::UnknownKey(_))
        ));
        assert!(Rejection::Signature.describe("client assertion").contains("signature"));
    }

    #[test]
    fn claims_name_what_is_wrong() {
        let (key, jwk) = pair(Algorithm::ES256, "k1");
        let set = keys(&[&jwk]);
        let check = |claims: Value, typ: Option<&str>, strict: bool| {
            let jwt = sign(&key, Algorithm::ES256, Some("k1"), typ, &claims);
            check_assertion(
                &verify(&jwt, Purpose::ClientAssertion, &set, None).unwrap(),
                &rules(strict),
            )
        };
        let with = |k: &str, v: Value| {
            let mut c = assertion_claims();
            c[k] = v;
            c
        };
        assert!(
            check(with("sub", json!("other")), None, false)
                .unwrap_err()
                .contains("sub is other")
        );
        assert!(
            check(with("exp", json!(NOW - 100)), None, false)
                .unwrap_err()
                .contains("past by 100 seconds")
        );
        assert!(
            check(with("exp", json!(NOW + 3600)), None, false)
                .unwrap_err()
                .contains("3600 seconds ahead")
        );
        let mut no_jti = assertion_claims();
        no_jti.as_object_mut().unwrap().remove("jti");
        assert!(check(no_jti, None, false).unwrap_err().contains("jti"));
        // Audience: the issuer always; the endpoint or an array only from legacy assertions.
        let endpoint = with("aud", json!("https://id.example.com/oauth/token"));
        assert!(check(endpoint.clone(), None, false).is_ok());
        assert!(check(endpoint.clone(), None, true).unwrap_err().contains("aud"));
        assert!(
            check(endpoint, Some("client-authentication+jwt"), false)
                .unwrap_err()
                .contains("aud")
        );
        let array = with("aud", json!([ISSUER, "https://evil.example"]));
        assert!(check(array.clone(), Some("JWT"), false).is_ok());
        assert!(check(array, None, true).is_err());
        assert!(check(with("aud", json!("https://evil.example")), None, false).is_err());
    }

    #[test]
    fn a_jwks_with_private_symmetric_small_or_odd_keys_is_refused_whole() {
        let (_, jwk) = pair(Algorithm::ES256, "k1");
        let mut private = jwk.clone();
        private["d"] = json!("AAAA");
        for (bad, says) in [
            (json!({"keys": [jwk.clone(), private]}), "private"),
            (
                json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
                "private or symmetric",
            ),
            (
                json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}),
                "at least 2048",
            ),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}),
                "",
            ),
            (json!({"keys": [jwk.clone(), jwk.clone()]}), "repeats kid"),
            (json!({"keys": []}), "1 to"),
            (json!({"nokeys": 1}), "keys"),
        ] {
            let e = ClientKeys::parse(&bad.to_string()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert_eq!(keys(&[&jwk]).ids(), vec!["k1".to_owned()]);
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        let jwk = json!({"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","alg":"RS256","kid":"2011-04-29"});
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    proptest! {
        #[test]
        fn malformed_input_is_refused_never_a_panic(jwt in "[A-Za-z0-9_.=-]{0,300}") {
            let (_, jwk) = pair(Algorithm::EdDSA, "k1");
            prop_assert!(verify(&jwt, Purpose::ClientAssertion, &keys(&[&jwk]), None).is_err());
        }

        #[test]
        fn any_jwks_text_is_parsed_or_refused_never_a_panic(text in ".{0,200}") {
            let _ = ClientKeys::parse(&text);
        }
    }

    #[test]
    fn oversized_tokens_are_refused_before_parsing() {
        let (_, jwk) = pair(Algorithm::EdDSA, "k1");
        let huge = format!("{}.e30.", "e".repeat(MAX_JWT));
        assert!(matches!(
            verify(&huge, Purpose::ClientAssertion, &keys(&[&jwk]), None),
            Err(Rejection::Malformed(_))
        ));
    }
}
