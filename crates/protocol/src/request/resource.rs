//! Resource indicators (RFC 8707): which protected resources a token is for.

use super::Params;
use crate::error::Error;

/// Reads every `resource` parameter: each an absolute URI without a fragment (RFC 8707 §2).
///
/// # Errors
/// `invalid_target` naming the malformed value.
pub fn parse_resources(params: &Params) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for value in params.get_all("resource") {
        let ok = url::Url::parse(value).is_ok_and(|u| u.fragment().is_none() && !u.cannot_be_a_base());
        if !ok {
            return Err(Error::InvalidTarget(
                format!("resource {value} must be an absolute URI without a fragment (RFC 8707 section 2)").into(),
            ));
        }
        if !out.iter().any(|r| r == value) {
            out.push(value.to_owned());
        }
    }
    Ok(out)
}

/// Checks requested resources against those a client may name.
///
/// # Errors
/// `invalid_target` naming the first resource the client may not use.
pub fn verify_allowed(requested: &[String], allowed: &[String]) -> Result<(), Error> {
    match requested.iter().find(|r| !allowed.contains(r)) {
        Some(r) => Err(Error::InvalidTarget(
            format!("resource {r} is not registered for this client; add it with gatehouse client update --resource")
                .into(),
        )),
        None => Ok(()),
    }
}

/// The resources of a token request: a subset of those authorized (RFC 8707 §2.2), all of them when
/// none is named.
///
/// # Errors
/// `invalid_target` naming a resource that was not authorized.
pub fn narrow(authorized: &[String], requested: Vec<String>) -> Result<Vec<String>, Error> {
    if requested.is_empty() {
        return Ok(authorized.to_vec());
    }
    match requested.iter().find(|r| !authorized.contains(r)) {
        Some(r) => Err(Error::InvalidTarget(
            format!("resource {r} was not part of the authorization").into(),
        )),
        None => Ok(requested),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_must_be_absolute_without_fragment_and_may_repeat() {
        let p = Params::from_pairs([
            ("resource", "https://api.example.com/"),
            ("resource", "https://b.example.com"),
        ]);
        assert_eq!(parse_resources(&p).unwrap().len(), 2);
        assert!(p.reject_repeats().is_ok());
        for bad in ["/relative", "https://a.example/#frag", "not a uri"] {
            let p = Params::from_pairs([("resource", bad)]);
            assert_eq!(parse_resources(&p).unwrap_err().code(), "invalid_target", "{bad}");
        }
    }

    #[test]
    fn unknown_or_unauthorized_resources_are_invalid_target() {
        let allowed = vec!["https://api.example.com".to_owned()];
        assert!(verify_allowed(&allowed, &allowed).is_ok());
        assert_eq!(
            verify_allowed(&["https://x.example".into()], &allowed)
                .unwrap_err()
                .code(),
            "invalid_target"
        );
        assert_eq!(narrow(&allowed, vec![]).unwrap(), allowed);
        assert_eq!(
            narrow(&allowed, vec!["https://x.example".into()]).unwrap_err().code(),
            "invalid_target"
        );
    }
}
