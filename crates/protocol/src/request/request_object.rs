//! Signed request objects (RFC 9101, OIDC Core §6.1) and pushed requests (RFC 9126): where the
//! parameters of an authorization request come from, before the one validator reads them.
//!
//! A request object's signature is checked by [`crate::client_jwt::verify`]; here its claims
//! become the request's parameters. Only the parameters inside the object count (RFC 9101 §5: the
//! outer ones, other than `client_id`, are ignored), so an attacker who can change the URL cannot
//! change the request.

use super::Params;
use crate::error::Error;
use serde_json::{Map, Value};

/// The prefix of every `request_uri` Gatehouse hands out (RFC 9126 §2.2).
pub const PUSHED_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The JWT claims of a request object that are not authorization request parameters.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "iat", "nbf", "jti"];

/// Checks a verified request object's claims and returns the authorization request parameters it
/// carries, with `client_id` (RFC 9101 §4, §5, §6.3):
/// - `client_id`, if present, equals the outer (authenticated or named) one;
/// - `iss`, if present, is the client; `aud`, if present, is or contains the issuer;
/// - `exp`, if present, has not passed, and `nbf`, if present, has come (with `skew`);
/// - no nested `request` or `request_uri`;
/// - every member is a string, a number, a JSON object (`claims`) or, for `resource` only, an
///   array of strings.
///
/// # Errors
/// `invalid_request_object` naming the member at fault.
pub fn params_of(
    claims: &Map<String, Value>,
    client_id: &str,
    issuer: &str,
    now: i64,
    skew: i64,
) -> Result<Params, Error> {
    let bad = |why: String| Error::InvalidRequestObject(why.into());
    if let Some(inner) = claims.get("client_id")
        && inner.as_str() != Some(client_id)
    {
        return Err(bad(format!(
            "the request object's client_id is {inner}, but the request names {client_id}; they must be identical"
        )));
    }
    if let Some(iss) = claims.get("iss")
        && iss.as_str() != Some(client_id)
    {
        return Err(bad(format!(
            "the request object's iss is {iss}; it must be the client_id {client_id}"
        )));
    }
    let aud_ok = match claims.get("aud") {
        None => true,
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(issuer)),
        Some(_) => false,
    };
    if !aud_ok {
        return Err(bad(format!(
            "the request object's aud must be this server's issuer identifier {issuer}"
        )));
    }
    // Optional (RFC 9101 §4), judged when present; saturating, as any number may come.
    if let Some(exp) = claims.get("exp") {
        let exp = exp
            .as_i64()
            .ok_or_else(|| bad("the request object's exp is not a number of seconds".into()))?;
        if exp.saturating_add(skew) < now {
            return Err(bad(format!(
                "the request object expired {} seconds ago",
                now.saturating_sub(exp)
            )));
        }
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf
            .as_i64()
            .ok_or_else(|| bad("the request object's nbf is not a number of seconds".into()))?;
        if nbf > now.saturating_add(skew) {
            return Err(bad(format!(
                "the request object's nbf is {} seconds ahead",
                nbf.saturating_sub(now)
            )));
        }
    }
    let mut pairs: Vec<(String, String)> = vec![("client_id".into(), client_id.into())];
    for (name, value) in claims {
        if name == "client_id" || JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        if name == "request" || name == "request_uri" {
            return Err(bad(format!(
                "a request object must not contain {name} (OIDC Core section 6.1)"
            )));
        }
        match value {
            Value::String(s) => pairs.push((name.clone(), s.clone())),
            Value::Number(n) => pairs.push((name.clone(), n.to_string())),
            Value::Object(_) if name == "claims" => pairs.push((name.clone(), value.to_string())),
            Value::Array(list) if name == "resource" => {
                for item in list {
                    let s = item
                        .as_str()
                        .ok_or_else(|| bad("the request object's resource array must hold strings".into()))?;
                    pairs.push((name.clone(), s.to_owned()));
                }
            }
            _ => {
                return Err(bad(format!("the request object's {name} must be a string")));
            }
        }
    }
    Params::from_checked_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(|e| bad(e.description()))
}

/// Reads a `request_uri`: one of ours (a pushed request's URN), its random part; any other value
/// is a URL Gatehouse does not fetch.
///
/// # Errors
/// `request_uri_not_supported` for any other URI.
pub fn pushed_reference(request_uri: &str) -> Result<&str, Error> {
    request_uri
        .strip_prefix(PUSHED_URI_PREFIX)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Error::RequestUriNotSupported(
                "request_uri must be a value returned by this server's pushed_authorization_request_endpoint; request objects are not fetched from other URLs (send it by value in request, or push it)".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://id.example.com";

    fn of(v: Value) -> Result<Params, Error> {
        params_of(v.as_object().unwrap(), "app", ISSUER, 1000, 30)
    }

    #[test]
    fn the_objects_members_become_the_parameters() {
        let p = of(json!({"iss": "app", "aud": ISSUER, "exp": 1100, "client_id": "app",
            "response_type": "code", "state": "inner", "max_age": 60,
            "claims": {"userinfo": {"email": null}}, "resource": ["https://a.example", "https://b.example"]}))
        .unwrap();
        assert_eq!(p.get("client_id").unwrap(), Some("app"));
        assert_eq!(p.get("state").unwrap(), Some("inner"));
        assert_eq!(p.get("max_age").unwrap(), Some("60"));
        assert_eq!(p.get("claims").unwrap(), Some(r#"{"userinfo":{"email":null}}"#));
        assert_eq!(p.get("iss").unwrap(), None, "JWT claims are not parameters");
        assert!(p.reject_repeats().is_ok(), "resource may repeat");
    }

    #[test]
    fn members_that_break_a_rule_are_named() {
        for (claims, says) in [
            (json!({"client_id": "other"}), "client_id"),
            (json!({"iss": "other"}), "iss"),
            (json!({"aud": "https://elsewhere.example"}), "aud"),
            (json!({"exp": 900}), "expired 100 seconds ago"),
            (json!({"nbf": 2000}), "nbf"),
            (json!({"nbf": "soon"}), "nbf is not a number"),
            (json!({"exp": i64::MIN}), "expired"),
            (json!({"request": "x"}), "must not contain request"),
            (json!({"request_uri": "x"}), "must not contain request_uri"),
            (json!({"state": ["a"]}), "state must be a string"),
            (json!({"state": "a\u{0}b"}), "control character"),
        ] {
            let e = of(claims.clone()).unwrap_err();
            assert_eq!(e.code(), "invalid_request_object", "{claims}");
            assert!(e.description().contains(says), "{claims}: {}", e.description());
        }
    }

    #[test]
    fn only_our_own_request_uris_are_read() {
        assert_eq!(
            pushed_reference("urn:ietf:params:oauth:request_uri:abc").unwrap(),
            "abc"
        );
        for other in [
            "https://app.example.com/request.jwt",
            "urn:ietf:params:oauth:request_uri:",
            "abc",
        ] {
            assert_eq!(pushed_reference(other).unwrap_err().code(), "request_uri_not_supported");
        }
    }
}
