//! Key pairs for tests: a signing key and its public JWK, for each accepted algorithm.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self as sig, KeyPair};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// A key pair of `alg`: its signing key and its public JWK.
pub(crate) fn pair(alg: Algorithm, kid: &str) -> (EncodingKey, Value) {
    let b64 = crate::types::b64url;
    match alg {
        Algorithm::ES256 => {
            let k = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let p = k.public_key().as_ref().to_vec();
            let der = k.to_pkcs8v1().unwrap();
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65]), "kid": kid});
            (EncodingKey::from_ec_der(der.as_ref()), jwk)
        }
        Algorithm::EdDSA => {
            let k = sig::Ed25519KeyPair::generate().unwrap();
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref()), "kid": kid});
            (EncodingKey::from_ed_der(k.to_pkcs8v1().unwrap().as_ref()), jwk)
        }
        _ => {
            let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
            let p = k.public_key();
            let jwk = json!({"kty": "RSA",
                "n": b64(p.modulus().big_endian_without_leading_zero()),
                "e": b64(p.exponent().big_endian_without_leading_zero()), "kid": kid});
            // jsonwebtoken reads RSA DER as PKCS#1; aws-lc-rs writes PKCS#8, which its PEM
            // reader accepts.
            use base64::Engine;
            let der = k.as_der().unwrap();
            let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                lines.join("\n")
            );
            (EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), jwk)
        }
    }
}
