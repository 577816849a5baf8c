//! Clients' public keys (RFC 7517 JWKS): parsed and checked once, public keys only; and RFC 7638
//! thumbprints.

use super::{MAX_JWKS, MAX_KEYS, Rejection};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One public key of a client.
pub(super) struct ClientKey {
    kid: Option<String>,
    kty: &'static str,
    pub(super) key: DecodingKey,
    thumbprint: String,
}

/// A client's public keys, parsed and checked once.
pub struct ClientKeys {
    keys: Vec<ClientKey>,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|k| &k.thumbprint)).finish()
    }
}

impl ClientKeys {
    /// Reads a JWKS (`{"keys": [...]}`): RSA (2048 bits or more), EC P-256 and Ed25519 public keys.
    ///
    /// # Errors
    /// What is wrong, naming the key: not JSON, too large, too many keys, a private or symmetric
    /// key (the whole set is refused), an unsupported key type or curve, a duplicate `kid`.
    pub fn parse(jwks: &str) -> Result<Self, String> {
        if jwks.len() > MAX_JWKS {
            return Err(format!("the JWKS is larger than {MAX_JWKS} bytes"));
        }
        let set: Value = serde_json::from_str(jwks).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
        let entries = set["keys"].as_array().ok_or("the JWKS has no \"keys\" array")?;
        if entries.is_empty() || entries.len() > MAX_KEYS {
            return Err(format!("the JWKS must hold 1 to {MAX_KEYS} keys"));
        }
        let mut keys: Vec<ClientKey> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let key = parse_key(entry).map_err(|why| format!("key {i} of the JWKS: {why}"))?;
            if key.kid.is_some() && keys.iter().any(|k| k.kid == key.kid) {
                return Err(format!(
                    "key {i} of the JWKS repeats kid {}",
                    key.kid.unwrap_or_default()
                ));
            }
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// One public JWK (a DPoP proof's `jwk` header), checked as [`ClientKeys::parse`] checks each.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn single(jwk: &Value) -> Result<Self, String> {
        Ok(Self {
            keys: vec![parse_key(jwk)?],
        })
    }

    /// The key ids (RFC 7638 thumbprints for keys without one), for `client show`.
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.kid.clone().unwrap_or_else(|| k.thumbprint.clone()))
            .collect()
    }

    /// The key a JWT header names: by `kid`, or without one, the only key of the algorithm's type.
    pub(super) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&ClientKey, Rejection> {
        let kty = kty_of(alg);
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.kty == kty)
                .ok_or_else(|| Rejection::UnknownKey(format!("kid {kid}"))),
            None => {
                let mut of_type = self.keys.iter().filter(|k| k.kty == kty);
                match (of_type.next(), of_type.next()) {
                    (Some(k), None) => Ok(k),
                    (None, _) => Err(Rejection::UnknownKey(format!("an {kty} key"))),
                    (Some(_), Some(_)) => Err(Rejection::UnknownKey(format!(
                        "no kid, and the client has several {kty} keys (name one with kid)"
                    ))),
                }
            }
        }
    }
}

/// The key type each accepted algorithm needs.
fn kty_of(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "EC",
        Algorithm::EdDSA => "OKP",
        _ => "RSA",
    }
}

fn parse_key(entry: &Value) -> Result<ClientKey, String> {
    let obj = entry.as_object().ok_or("not a JSON object")?;
    // RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2: private members. A public JWKS never has them.
    if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        .iter()
        .any(|m| obj.contains_key(*m))
    {
        return Err("it holds private or symmetric key material; publish public keys only (and replace this key: it has leaked)".into());
    }
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|e| format!("not a JWK: {e}"))?;
    let kty = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let bits = crate::types::b64url_decode(&p.n).map_or(0, |n| n.iter().skip_while(|b| **b == 0).count() * 8);
            if bits < 2048 {
                return Err(format!("an RSA key of {bits} bits; at least 2048 are needed"));
            }
            "RSA"
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => "EC",
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => "OKP",
        AlgorithmParameters::EllipticCurve(_) | AlgorithmParameters::OctetKeyPair(_) => {
            return Err("an unsupported curve; use P-256 (ES256) or Ed25519 (EdDSA)".into());
        }
        _ => {
            return Err("an unsupported key type; use RSA, EC (P-256) or OKP (Ed25519)".into());
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable: {e}"))?;
    Ok(ClientKey {
        kid: jwk.common.key_id.clone(),
        kty,
        key,
        thumbprint: thumbprint(entry).ok_or("its required members are missing")?,
    })
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order, base64url.
/// `None` for an unsupported key type or a missing member.
#[must_use]
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let members: &[&str] = match jwk["kty"].as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = Map::new();
    for m in members {
        canonical.insert((*m).to_owned(), Value::String(jwk[*m].as_str()?.to_owned()));
    }
    // serde_json's Map keeps keys sorted and writes no whitespace: exactly RFC 7638 §3.
    let text = Value::Object(canonical).to_string();
    Some(crate::types::b64url(&Sha256::digest(text.as_bytes())))
}
