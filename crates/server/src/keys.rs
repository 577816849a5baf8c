//! Signing keys: generated on first start, kept in the store, parsed once and held in memory.
//! JWS compact serialisation is done here directly on aws-lc-rs (RFC 7515 §7.1): it is a few
//! lines, and keeping the parsed key avoids re-parsing it on every signature. The rotation policy
//! is in [`rotation`].

mod rotation;

pub use rotation::{key_state, rotate, rotate_due_keys, rotate_now};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use gatehouse_protocol::client_jwt::thumbprint;
use gatehouse_protocol::types::{SigningAlg, UnixTime, b64url, b64url_decode};
use gatehouse_storage::{SigningKeyRecord, Store, StoreError};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One parsed signing key with its public JWK.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    jwk: Value,
}

impl SigningKey {
    fn from_record(rec: &SigningKeyRecord) -> Result<Self, String> {
        // Encrypted at rest when a key-encryption key is configured (`crate::seal`).
        let der = crate::seal::open(&crate::seal::signing_key_aad(&rec.kid), &rec.private_der)?;
        let pair = match rec.alg {
            SigningAlg::Rs256 => Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?),
            SigningAlg::Es256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|e| e.to_string())?,
            ),
            SigningAlg::EdDsa => Pair::Ed(Ed25519KeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?),
        };
        let mut jwk = public_jwk(&pair);
        jwk["kid"] = json!(rec.kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(rec.alg.as_str());
        Ok(Self {
            kid: rec.kid.clone(),
            alg: rec.alg,
            pair,
            jwk,
        })
    }

    /// Generates a new key record for `alg`.
    ///
    /// # Errors
    /// When the crypto library fails to generate a key.
    pub fn generate(alg: SigningAlg, now: UnixTime) -> Result<SigningKeyRecord, String> {
        let der: Vec<u8> = match alg {
            SigningAlg::Rs256 => {
                let k = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
                k.as_der().map_err(|e| e.to_string())?.as_ref().to_vec()
            }
            SigningAlg::Es256 => {
                let k =
                    EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|e| e.to_string())?;
                k.to_pkcs8v1().map_err(|e| e.to_string())?.as_ref().to_vec()
            }
            SigningAlg::EdDsa => {
                let k = Ed25519KeyPair::generate().map_err(|e| e.to_string())?;
                k.to_pkcs8v1().map_err(|e| e.to_string())?.as_ref().to_vec()
            }
        };
        let rec = SigningKeyRecord {
            kid: String::new(),
            alg,
            private_der: der,
            created_at: now,
            activates_at: now,
            retires_at: None,
        };
        let parsed = Self::from_record(&rec)?;
        let kid = thumbprint(&parsed.jwk).ok_or("a generated key has no thumbprint")?;
        Ok(SigningKeyRecord {
            private_der: crate::seal::seal(&crate::seal::signing_key_aad(&kid), &rec.private_der)?,
            kid,
            ..rec
        })
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as a compact JWS with header `typ`.
    ///
    /// # Errors
    /// When serialisation or signing fails.
    pub fn sign(&self, claims: &impl Serialize, typ: &str) -> Result<String, String> {
        let header = json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": typ });
        let mut input = b64url(header.to_string().as_bytes());
        input.push('.');
        input.push_str(&b64url(&serde_json::to_vec(claims).map_err(|e| e.to_string())?));
        let sig = match &self.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|e| e.to_string())?;
                sig
            }
            Pair::Ec(k) => k
                .sign(&SystemRandom::new(), input.as_bytes())
                .map_err(|e| e.to_string())?
                .as_ref()
                .to_vec(),
            Pair::Ed(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        input.push('.');
        input.push_str(&b64url(&sig));
        Ok(input)
    }

    fn verify(&self, signed: &[u8], sig: &[u8]) -> bool {
        match &self.pair {
            Pair::Rsa(k) => UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, k.public_key().as_ref())
                .verify(signed, sig)
                .is_ok(),
            Pair::Ec(k) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, k.public_key().as_ref())
                .verify(signed, sig)
                .is_ok(),
            Pair::Ed(k) => UnparsedPublicKey::new(&signature::ED25519, k.public_key().as_ref())
                .verify(signed, sig)
                .is_ok(),
        }
    }
}

fn public_jwk(pair: &Pair) -> Value {
    match pair {
        Pair::Rsa(k) => {
            let p = k.public_key();
            json!({ "kty": "RSA", "n": b64url(p.modulus().big_endian_without_leading_zero()), "e": b64url(p.exponent().big_endian_without_leading_zero()) })
        }
        Pair::Ec(k) => {
            // Uncompressed SEC1 point: 0x04 || x || y.
            let point = k.public_key().as_ref();
            json!({ "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65]) })
        }
        Pair::Ed(k) => {
            json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_key().as_ref()) })
        }
    }
}

/// Every published key, the one signing per algorithm, and the serialised JWKS, as of one moment.
/// Rebuilt when the store's keys change or a key's activation or retirement time passes.
pub struct KeyRing {
    active: HashMap<SigningAlg, Arc<SigningKey>>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks: actix_web::web::Bytes,
    etag: String,
    records: Vec<SigningKeyRecord>,
    next_change: Option<UnixTime>,
}

impl KeyRing {
    /// Loads the keys from the store, first generating one per algorithm that has none.
    ///
    /// # Errors
    /// Store failures, or a stored key that cannot be parsed.
    pub async fn load_or_create(store: &dyn Store, now: UnixTime) -> Result<Self, StoreError> {
        let mut records = store.list_keys().await?;
        let missing: Vec<SigningAlg> = SigningAlg::ALL
            .iter()
            .copied()
            .filter(|a| !records.iter().any(|r| r.alg == *a))
            .collect();
        if !missing.is_empty() {
            for alg in missing {
                let rec = tokio::task::spawn_blocking(move || SigningKey::generate(alg, now))
                    .await
                    .map_err(|e| StoreError::Internal(e.to_string()))?
                    .map_err(StoreError::Internal)?;
                store.put_key(&rec).await?;
                tracing::info!(target: "gatehouse::audit", event = "key.created", kid = %rec.kid, alg = %alg);
            }
            // Re-read: another instance starting at the same moment may have added keys too, and
            // every instance must pick the same active key.
            records = store.list_keys().await?;
        }
        Self::from_records(&records, now).map_err(StoreError::Internal)
    }

    /// Whether a reload is due: the stored keys differ, or a scheduled change has come.
    #[must_use]
    pub fn stale(&self, records: &[SigningKeyRecord], now: UnixTime) -> bool {
        self.records != records || self.next_change.is_some_and(|t| t <= now)
    }

    /// Builds the ring as of `now`: published keys are those not yet retired; the signer per
    /// algorithm is the newest published key whose activation time has come.
    ///
    /// # Errors
    /// A stored key that cannot be parsed.
    pub fn from_records(records: &[SigningKeyRecord], now: UnixTime) -> Result<Self, String> {
        let published: Vec<&SigningKeyRecord> = records
            .iter()
            .filter(|r| r.retires_at.is_none_or(|t| t > now))
            .collect();
        let mut by_kid = HashMap::new();
        for rec in &published {
            let key = Arc::new(SigningKey::from_record(rec).map_err(|e| format!("stored key {}: {e}", rec.kid))?);
            by_kid.insert(rec.kid.clone(), key);
        }
        let mut active: HashMap<SigningAlg, Arc<SigningKey>> = HashMap::new();
        for alg in SigningAlg::ALL {
            let mut candidates: Vec<&&SigningKeyRecord> = published.iter().filter(|r| r.alg == *alg).collect();
            candidates.sort_by_key(|r| (r.activates_at, r.created_at, r.kid.clone()));
            // The newest key whose time has come; a pending key signs only if nothing else can.
            let chosen = candidates
                .iter()
                .rev()
                .find(|r| r.activates_at <= now)
                .or_else(|| candidates.first());
            if let Some(rec) = chosen {
                active.insert(*alg, Arc::clone(&by_kid[&rec.kid]));
            }
        }
        let keys: Vec<&Value> = published
            .iter()
            .filter_map(|r| by_kid.get(&r.kid))
            .map(|k| &k.jwk)
            .collect();
        let jwks = serde_json::to_vec(&json!({ "keys": keys })).map_err(|e| e.to_string())?;
        let etag = format!("\"{}\"", &b64url(&Sha256::digest(&jwks))[..22]);
        let next_change = records
            .iter()
            .flat_map(|r| [Some(r.activates_at), r.retires_at])
            .flatten()
            .filter(|t| *t > now)
            .min();
        Ok(Self {
            active,
            by_kid,
            jwks: jwks.into(),
            etag,
            records: records.to_vec(),
            next_change,
        })
    }

    /// The JWKS's entity tag.
    #[must_use]
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The next scheduled activation or retirement, if any.
    #[must_use]
    pub fn next_change(&self) -> Option<UnixTime> {
        self.next_change
    }

    /// The key that signs with `alg`.
    #[must_use]
    pub fn signer(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.active.get(&alg).map(AsRef::as_ref)
    }

    /// The JWKS document (cheap to clone: shared bytes).
    #[must_use]
    pub fn jwks(&self) -> actix_web::web::Bytes {
        self.jwks.clone()
    }

    /// The signing key id per algorithm.
    #[must_use]
    pub fn active_kids(&self) -> std::collections::BTreeMap<&'static str, String> {
        self.active
            .iter()
            .map(|(alg, k)| (alg.as_str(), k.kid.clone()))
            .collect()
    }

    /// Every key id, in JWKS order.
    #[must_use]
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.by_kid.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Verifies a compact JWS signed by one of our keys and returns its claims. Used for
    /// `id_token_hint`, which may be expired (OIDC Core §3.1.2.1), so time is not checked here.
    #[must_use]
    pub fn verify(&self, jws: &str) -> Option<Value> {
        self.verify_with_header(jws).map(|(_, claims)| claims)
    }

    /// As [`Self::verify`], returning the header too.
    #[must_use]
    pub fn verify_with_header(&self, jws: &str) -> Option<(Value, Value)> {
        let mut parts = jws.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&b64url_decode(h)?).ok()?;
        let key = self.by_kid.get(header["kid"].as_str()?)?;
        if header["alg"].as_str()? != key.alg.as_str() {
            return None;
        }
        let signed_len = h.len() + 1 + p.len();
        if !key.verify(&jws.as_bytes()[..signed_len], &b64url_decode(s)?) {
            return None;
        }
        Some((header, serde_json::from_slice(&b64url_decode(p)?).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_and_kid_is_a_thumbprint() {
        let now = UnixTime(1);
        let recs: Vec<_> = SigningAlg::ALL
            .iter()
            .map(|a| SigningKey::generate(*a, now).unwrap())
            .collect();
        let ring = KeyRing::from_records(&recs, now).unwrap();
        for alg in SigningAlg::ALL {
            let key = ring.signer(*alg).unwrap();
            let jws = key.sign(&json!({"sub": "u1"}), "JWT").unwrap();
            assert_eq!(ring.verify(&jws).unwrap()["sub"], "u1", "{alg}");
            let mut tampered = jws.clone();
            tampered.replace_range(jws.len() - 4.., "AAAA");
            assert!(ring.verify(&tampered).is_none(), "{alg}");
            assert_eq!(Some(key.kid().to_owned()), thumbprint(&key.jwk));
        }
        let jwks: Value = serde_json::from_slice(&ring.jwks()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
        assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none()));
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;

    #[test]
    fn a_rotated_key_is_published_first_signs_later_and_retires_on_schedule() {
        let old = SigningKey::generate(SigningAlg::Es256, UnixTime(0)).unwrap();
        let mut new = SigningKey::generate(SigningAlg::Es256, UnixTime(100)).unwrap();
        new.activates_at = UnixTime(160);
        let mut old_retiring = old.clone();
        old_retiring.retires_at = Some(UnixTime(160 + 3600));
        let records = vec![old_retiring, new.clone()];
        let at = |t| KeyRing::from_records(&records, UnixTime(t)).unwrap();
        let before = at(120);
        assert_eq!(
            before.signer(SigningAlg::Es256).unwrap().kid(),
            old.kid,
            "pending key does not sign yet"
        );
        assert_eq!(before.kids().len(), 2, "but it is published");
        assert_eq!(before.next_change(), Some(UnixTime(160)));
        assert!(before.stale(&records, UnixTime(160)));
        let after = at(200);
        assert_eq!(after.signer(SigningAlg::Es256).unwrap().kid(), new.kid);
        assert_eq!(
            after.kids().len(),
            2,
            "the old key stays published while its tokens live"
        );
        let retired = at(160 + 3600);
        assert_eq!(retired.kids(), vec![new.kid.clone()]);
        assert_ne!(before.etag(), retired.etag());
    }
}
