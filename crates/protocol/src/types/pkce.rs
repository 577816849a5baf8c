//! PKCE (RFC 7636) with S256 only: `plain` is refused (OAuth 2.1, RFC 9700 §2.1.1).

use super::hash::b64url;
use crate::error::{Error, invalid_request};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A `code_challenge` with method S256: always 43 base64url characters (a SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

stored_string!(CodeChallenge, "The challenge as sent.");

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method` from an authorization request.
    ///
    /// # Errors
    /// `invalid_request` when the challenge is missing, the method is not S256 (RFC 7636 §4.3:
    /// a missing method means `plain`, which we refuse), or the value is not a base64url SHA-256.
    pub fn parse(value: Option<&str>, method: Option<&str>) -> Result<Self, Error> {
        let Some(value) = value else {
            return Err(invalid_request(
                "code_challenge is required: send the base64url SHA-256 of a code_verifier with code_challenge_method=S256 (PKCE, RFC 7636)",
            ));
        };
        match method {
            Some("S256") => {}
            Some("plain") => {
                return Err(invalid_request("code_challenge_method plain is not allowed; use S256"));
            }
            None => {
                return Err(invalid_request(
                    "code_challenge_method is required and must be S256 (a missing method means plain, which is not allowed)",
                ));
            }
            Some(_) => {
                return Err(invalid_request("code_challenge_method is not supported; use S256"));
            }
        }
        if value.len() != 43 || !value.bytes().all(is_b64url_byte) {
            return Err(invalid_request(
                "code_challenge must be 43 base64url characters (the unpadded base64url SHA-256 of the code_verifier)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Checks a verifier against this challenge in constant time.
    ///
    /// # Errors
    /// `invalid_grant` on mismatch (RFC 7636 §4.6).
    pub fn verify(&self, verifier: &CodeVerifier) -> Result<(), Error> {
        let computed = b64url(&Sha256::digest(verifier.0.as_bytes()));
        if bool::from(computed.as_bytes().ct_eq(self.0.as_bytes())) {
            Ok(())
        } else {
            Err(Error::InvalidGrant(
                "code_verifier does not match the code_challenge sent to /oauth/authorize".into(),
            ))
        }
    }
}

/// A `code_verifier`: 43 to 128 unreserved characters (RFC 7636 §4.1). One-time: no `Clone`.
#[derive(PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Parses a `code_verifier` from a token request.
    ///
    /// # Errors
    /// `invalid_request` when missing or malformed (RFC 7636 §4.1).
    pub fn parse(value: Option<&str>) -> Result<Self, Error> {
        let Some(value) = value else {
            return Err(invalid_request(
                "code_verifier is required: send the PKCE verifier whose S256 challenge went to /oauth/authorize",
            ));
        };
        let ok_len = (43..=128).contains(&value.len());
        let ok_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !ok_len || !ok_chars {
            return Err(invalid_request(
                "code_verifier must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~ (RFC 7636 section 4.1)",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

fn is_b64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        let c = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        c.verify(&CodeVerifier::parse(Some(VERIFIER)).unwrap()).unwrap();
    }

    #[test]
    fn wrong_verifier_is_invalid_grant() {
        let c = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        let other = CodeVerifier::parse(Some(&"a".repeat(43))).unwrap();
        assert_eq!(c.verify(&other).unwrap_err().code(), "invalid_grant");
    }

    #[test]
    fn plain_missing_or_unknown_method_is_invalid_request() {
        for m in [Some("plain"), None, Some("S512"), Some("s256")] {
            let e = CodeChallenge::parse(Some(CHALLENGE), m).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{m:?}");
        }
        let e = CodeChallenge::parse(None, Some("S256")).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn malformed_challenge_is_invalid_request() {
        for v in ["short", &"a".repeat(44), &format!("{}=", &CHALLENGE[..42])] {
            assert!(CodeChallenge::parse(Some(v), Some("S256")).is_err(), "{v}");
        }
    }

    proptest! {
        #[test]
        fn any_valid_verifier_matches_its_own_challenge(v in "[A-Za-z0-9._~-]{43,128}") {
            let verifier = CodeVerifier::parse(Some(&v)).unwrap();
            let challenge = b64url(&Sha256::digest(v.as_bytes()));
            let c = CodeChallenge::parse(Some(&challenge), Some("S256")).unwrap();
            prop_assert!(c.verify(&verifier).is_ok());
        }

        #[test]
        fn verifier_of_wrong_length_is_rejected(v in "[A-Za-z0-9]{0,42}|[A-Za-z0-9]{129,200}") {
            prop_assert!(CodeVerifier::parse(Some(&v)).is_err());
        }
    }
}
