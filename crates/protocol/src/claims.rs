//! OpenID Connect claims: which claims each scope releases, the `claims` request parameter
//! (OIDC Core §5.5), and `at_hash` (OIDC Core §3.1.3.6).

use crate::error::{Error, invalid_request};
use crate::types::{ScopeSet, SigningAlg, b64url};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeSet;

/// The user claims Gatehouse can release, beyond the ID token's protocol claims.
pub const USER_CLAIMS: &[&str] = &[
    "sub",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
];

/// Claims released by a scope (OIDC Core §5.4), restricted to those Gatehouse holds.
#[must_use]
pub fn claims_for_scope(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &["name", "preferred_username", "updated_at"],
        "email" => &["email", "email_verified"],
        _ => &[],
    }
}

/// Names of claims asked for individually through the `claims` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims to return from the userinfo endpoint.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub userinfo: BTreeSet<String>,
    /// Claims to put in the ID token.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub id_token: BTreeSet<String>,
}

impl ClaimsRequest {
    /// Parses the `claims` parameter: a JSON object with optional `userinfo` and `id_token`
    /// members, each an object whose members are claim names mapped to `null` or an object.
    /// Claims Gatehouse does not hold are ignored, as OIDC Core §5.5 allows.
    ///
    /// # Errors
    /// `invalid_request` when the value is not such a JSON object.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let json: serde_json::Value = serde_json::from_str(value)
            .map_err(|_| invalid_request("claims must be a JSON object (OIDC Core section 5.5)"))?;
        let obj = json
            .as_object()
            .ok_or_else(|| invalid_request("claims must be a JSON object (OIDC Core section 5.5)"))?;
        let member = |name: &str| -> Result<BTreeSet<String>, Error> {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) => Ok(BTreeSet::new()),
                Some(serde_json::Value::Object(m)) => {
                    let mut out = BTreeSet::new();
                    for (claim, spec) in m {
                        if !(spec.is_null() || spec.is_object()) {
                            return Err(invalid_request(format!(
                                "claims.{name}.{claim} must be null or an object"
                            )));
                        }
                        if USER_CLAIMS.contains(&claim.as_str()) {
                            out.insert(claim.clone());
                        }
                    }
                    Ok(out)
                }
                Some(_) => Err(invalid_request(format!("claims.{name} must be a JSON object"))),
            }
        };
        Ok(Self {
            userinfo: member("userinfo")?,
            id_token: member("id_token")?,
        })
    }
}

/// The user claims to release for `scope` plus those named individually in `extra`.
#[must_use]
pub fn released_claims(scope: &ScopeSet, extra: &BTreeSet<String>) -> BTreeSet<&'static str> {
    let mut out: BTreeSet<&'static str> = scope
        .iter()
        .flat_map(|s| claims_for_scope(s.as_str()).iter().copied())
        .collect();
    out.extend(USER_CLAIMS.iter().copied().filter(|c| extra.contains(*c)));
    out.remove("sub");
    out
}

/// `at_hash`: the left half of the hash of the access token, with the hash of the JWS algorithm
/// (OIDC Core §3.1.3.6). For EdDSA with Ed25519 that is SHA-512, as relying parties expect.
#[must_use]
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::Rs256 | SigningAlg::Es256 => Sha256::digest(access_token).to_vec(),
        SigningAlg::EdDsa => Sha512::digest(access_token).to_vec(),
    };
    b64url(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_parameter_keeps_known_names_and_rejects_bad_shapes() {
        let c = ClaimsRequest::parse(
            r#"{"userinfo":{"name":{"essential":true},"shoe_size":null},"id_token":{"email":null}}"#,
        )
        .unwrap();
        assert_eq!(c.userinfo.iter().collect::<Vec<_>>(), ["name"]);
        assert_eq!(c.id_token.iter().collect::<Vec<_>>(), ["email"]);
        for bad in ["[]", "not json", r#"{"userinfo":[]}"#, r#"{"userinfo":{"name":3}}"#] {
            assert_eq!(
                ClaimsRequest::parse(bad).unwrap_err().code(),
                "invalid_request",
                "{bad}"
            );
        }
    }

    #[test]
    fn scopes_release_their_claims() {
        let s = ScopeSet::from_static(&["openid", "email"]);
        let r = released_claims(&s, &BTreeSet::from(["name".to_owned()]));
        assert_eq!(r.into_iter().collect::<Vec<_>>(), ["email", "email_verified", "name"]);
    }

    #[test]
    fn at_hash_matches_oidc_example() {
        // OIDC Core Appendix A.3 example pair (RS256 / SHA-256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", SigningAlg::Rs256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
