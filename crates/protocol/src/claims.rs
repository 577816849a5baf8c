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

/// The scope whose consent covers a user claim (OIDC Core §5.4): a claim requested individually is
/// released only when the client may have that scope and the user consented to it.
#[must_use]
pub fn scope_for_claim(claim: &str) -> Option<&'static str> {
    match claim {
        "sub" => Some("openid"),
        "name" | "preferred_username" | "updated_at" => Some("profile"),
        "email" | "email_verified" => Some("email"),
        _ => None,
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
    /// The subject the request insists on (`"sub": {"value": ...}`, OIDC Core §5.5.1): only a
    /// positive answer for that user is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
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
        let mut required_sub: Vec<String> = Vec::new();
        let mut member = |name: &str| -> Result<BTreeSet<String>, Error> {
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
                        if claim == "sub"
                            && let Some(v) = spec.get("value")
                        {
                            let v = v
                                .as_str()
                                .ok_or_else(|| invalid_request(format!("claims.{name}.sub.value must be a string")))?;
                            required_sub.push(v.to_owned());
                        }
                    }
                    Ok(out)
                }
                Some(_) => Err(invalid_request(format!("claims.{name} must be a JSON object"))),
            }
        };
        let userinfo = member("userinfo")?;
        let id_token = member("id_token")?;
        required_sub.dedup();
        if required_sub.len() > 1 {
            return Err(invalid_request("claims asks for two different sub values"));
        }
        Ok(Self {
            userinfo,
            id_token,
            sub: required_sub.pop(),
        })
    }

    /// The scopes whose consent covers the claims requested individually (`openid` aside).
    #[must_use]
    pub fn consent_scopes(&self) -> ScopeSet {
        self.userinfo
            .iter()
            .chain(&self.id_token)
            .filter_map(|c| scope_for_claim(c))
            .filter(|s| *s != "openid")
            .filter_map(|s| crate::types::Scope::parse(s).ok())
            .collect()
    }

    /// Drops the claims whose covering scope the client may not have: the administrator's
    /// restriction holds for individually requested claims too (OIDC Core §5.5 lets the OP omit
    /// claims it will not release).
    pub fn retain_allowed(&mut self, allowed: &ScopeSet) {
        let keep = |c: &String| scope_for_claim(c).is_some_and(|s| s == "openid" || allowed.contains(s));
        self.userinfo.retain(keep);
        self.id_token.retain(keep);
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
    fn individually_requested_claims_need_their_scope() {
        let mut c = ClaimsRequest::parse(
            r#"{"userinfo":{"email":null,"name":null},"id_token":{"sub":{"value":"u1"},"email_verified":null}}"#,
        )
        .unwrap();
        assert_eq!(c.sub.as_deref(), Some("u1"));
        assert_eq!(c.consent_scopes().to_param(), "email profile");
        c.retain_allowed(&ScopeSet::from_static(&["openid", "email"]));
        assert_eq!(c.userinfo.iter().collect::<Vec<_>>(), ["email"]);
        assert_eq!(c.consent_scopes().to_param(), "email");
        assert!(ClaimsRequest::parse(r#"{"id_token":{"sub":{"value":1}}}"#).is_err());
        assert!(
            ClaimsRequest::parse(r#"{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}}"#).is_err()
        );
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
