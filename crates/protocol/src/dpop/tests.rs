//! The §4.3 rules one by one, and the negative list of the OpenID Foundation's FAPI 2.0 DPoP
//! tests.

use super::*;
use crate::test_keys::pair;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::json;

const URL: &str = "https://id.example.com/oauth/token";
const NOW: i64 = 1_800_000_000;

fn check() -> ProofCheck<'static> {
    ProofCheck {
        method: "POST",
        url: URL,
        now: NOW,
        window: 60,
        access_token: None,
        allow_rs256: false,
    }
}

fn claims() -> Value {
    json!({"jti": "j1", "htm": "POST", "htu": URL, "iat": NOW})
}

/// A proof signed by `key` whose header carries `jwk` (and `typ`, unless `None`).
fn proof(key: &EncodingKey, alg: Algorithm, jwk: &Value, typ: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.typ = typ.map(str::to_owned);
    h.jwk = Some(serde_json::from_value(jwk.clone()).unwrap());
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

fn es256() -> (EncodingKey, Value) {
    pair(Algorithm::ES256, "k")
}

fn good(c: &Value) -> String {
    let (k, jwk) = es256();
    proof(&k, Algorithm::ES256, &jwk, Some("dpop+jwt"), c)
}

fn with(name: &str, value: Value) -> Value {
    let mut c = claims();
    c[name] = value;
    c
}

fn refused(values: &[&str], check: &ProofCheck<'_>, says: &str) {
    let why = check_proof(values, check).unwrap_err();
    assert!(why.description.contains(says), "expected {says:?} in {why:?}");
}

#[test]
fn proofs_of_every_accepted_algorithm_check_out_and_name_their_key() {
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS256] {
        let (k, jwk) = pair(alg, "k");
        let p = proof(&k, alg, &jwk, Some("dpop+jwt"), &claims());
        let got = check_proof(&[&p], &check()).unwrap();
        assert_eq!(got.jkt, client_jwt::thumbprint(&jwk).unwrap(), "{alg:?}");
        assert_eq!((got.jti.as_str(), got.iat, got.nonce), ("j1", NOW, None));
    }
}

#[test]
fn what_the_rfc_allows_is_accepted() {
    // htu with a query or fragment, other case in scheme and host, an explicit default port.
    for htu in [
        "https://id.example.com/oauth/token?x=1",
        "https://id.example.com/oauth/token#f",
        "HTTPS://ID.Example.COM/oauth/token",
        "https://id.example.com:443/oauth/token",
    ] {
        assert!(
            check_proof(&[&good(&with("htu", json!(htu)))], &check()).is_ok(),
            "{htu}"
        );
    }
    // iat 10 seconds early or late, extra claims, a nonce passed on to the caller.
    for iat in [NOW - 10, NOW + 10] {
        assert!(check_proof(&[&good(&with("iat", json!(iat)))], &check()).is_ok());
    }
    let extra = with("extra", json!({"anything": [1, 2]}));
    assert!(check_proof(&[&good(&extra)], &check()).is_ok());
    let p = check_proof(&[&good(&with("nonce", json!("n1")))], &check()).unwrap();
    assert_eq!(p.nonce.as_deref(), Some("n1"));
    // RS256 when the operator allows it.
    let (k, jwk) = pair(Algorithm::RS256, "k");
    let rs = proof(&k, Algorithm::RS256, &jwk, Some("dpop+jwt"), &claims());
    refused(&[&rs], &check(), "RS256");
    assert!(
        check_proof(
            &[&rs],
            &ProofCheck {
                allow_rs256: true,
                ..check()
            }
        )
        .is_ok()
    );
}

#[test]
fn every_broken_rule_is_refused_and_named() {
    let (k, jwk) = es256();
    let (_, other_jwk) = es256();
    let p = good(&claims());
    refused(&[], &check(), "no DPoP proof");
    refused(&[&p, &p], &check(), "exactly one");
    refused(&["not.a.jwt"], &check(), "well-formed");
    refused(&["a.b"], &check(), "three");
    // typ: missing, or another purpose's.
    refused(&[&proof(&k, Algorithm::ES256, &jwk, None, &claims())], &check(), "typ");
    for typ in ["JWT", "at+jwt", "client-authentication+jwt"] {
        refused(
            &[&proof(&k, Algorithm::ES256, &jwk, Some(typ), &claims())],
            &check(),
            "typ",
        );
    }
    // alg none, HMAC.
    let none = format!(
        "{}.{}.",
        b64url(
            json!({"alg": "none", "typ": "dpop+jwt", "jwk": jwk})
                .to_string()
                .as_bytes()
        ),
        b64url(claims().to_string().as_bytes())
    );
    refused(&[&none], &check(), "alg none");
    let hs = {
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("dpop+jwt".into());
        jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(b"secret")).unwrap()
    };
    refused(&[&hs], &check(), "HS256");
    // A signature by another key than the header's, no jwk, a private key in it.
    refused(
        &[&proof(&k, Algorithm::ES256, &other_jwk, Some("dpop+jwt"), &claims())],
        &check(),
        "signature",
    );
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("dpop+jwt".into());
    refused(&[&jsonwebtoken::encode(&h, &claims(), &k).unwrap()], &check(), "no jwk");
    let mut private = jwk.clone();
    private["d"] = json!("c2VjcmV0");
    let raw = format!(
        "{}.{}.sig",
        b64url(
            json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": private})
                .to_string()
                .as_bytes()
        ),
        b64url(claims().to_string().as_bytes())
    );
    refused(&[&raw], &check(), "private");
    // Each required claim missing.
    for claim in ["jti", "htm", "htu", "iat"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(claim);
        refused(&[&good(&c)], &check(), &format!("no {claim}"));
    }
    // Wrong method, another URL, iat an hour off either way.
    refused(&[&good(&with("htm", json!("GET")))], &check(), "htm");
    for htu in [
        "https://id.example.com/oauth/userinfo",
        "https://other.example.com/oauth/token",
        "http://id.example.com/oauth/token",
        "https://id.example.com:8443/oauth/token",
    ] {
        refused(&[&good(&with("htu", json!(htu)))], &check(), "htu");
    }
    for iat in [NOW - 3600, NOW + 3600, i64::MIN, i64::MAX] {
        refused(&[&good(&with("iat", json!(iat)))], &check(), "iat");
    }
}

#[test]
fn at_a_resource_ath_must_be_the_hash_of_the_token_sent() {
    let at = ProofCheck {
        method: "GET",
        url: "https://id.example.com/oauth/userinfo",
        access_token: Some("the-token"),
        ..check()
    };
    let c = json!({"jti": "j", "htm": "GET", "htu": at.url, "iat": NOW});
    refused(&[&good(&c)], &at, "no ath");
    let mut wrong = c.clone();
    wrong["ath"] = json!(access_token_hash("another-token"));
    refused(&[&good(&wrong)], &at, "ath");
    let mut right = c;
    right["ath"] = json!(access_token_hash("the-token"));
    assert!(check_proof(&[&good(&right)], &at).is_ok());
    // RFC 9449 §4.2 example: the hash of a token is base64url SHA-256.
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

proptest! {
    #[test]
    fn any_header_value_is_refused_or_accepted_without_panic(value in ".{0,300}") {
        let _ = check_proof(&[&value], &check());
    }

    #[test]
    fn tampered_proofs_never_pass(i in 0usize..400, b in any::<u8>()) {
        let p = good(&claims());
        let mut bytes = p.clone().into_bytes();
        let at = i % bytes.len();
        prop_assume!(bytes[at] != b && b.is_ascii_graphic());
        bytes[at] = b;
        let tampered = String::from_utf8(bytes).unwrap();
        // Changing any byte of the signed part or the signature breaks the proof (base64url
        // padding bits aside, which the decoder may ignore).
        if let Ok(got) = check_proof(&[&tampered], &check()) {
            prop_assert_eq!(got, check_proof(&[&p], &check()).unwrap());
        }
    }
}
