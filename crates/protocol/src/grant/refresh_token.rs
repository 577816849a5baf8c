//! `grant_type=refresh_token` (RFC 6749 §6), scope rules only; rotation and reuse detection are
//! store contracts (RFC 9700 §4.14.2).

use crate::error::Error;
use crate::types::ScopeSet;

/// The scope of the refreshed access token: the granted scope, or a subset of it when the
/// client asks to narrow (RFC 6749 §6).
///
/// # Errors
/// `invalid_scope` naming the first scope that was not granted.
pub fn narrow_scope(granted: &ScopeSet, requested: Option<&ScopeSet>) -> Result<ScopeSet, Error> {
    let Some(requested) = requested else {
        return Ok(granted.clone());
    };
    if let Some(extra) = requested.difference(granted).next() {
        return Err(Error::InvalidScope(
            format!(
                "scope {} was not granted to this refresh token; ask for a subset of the granted scopes",
                extra.as_str()
            )
            .into(),
        ));
    }
    Ok(requested.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_is_allowed_and_wider_is_invalid_scope() {
        let granted = ScopeSet::from_static(&["openid", "email", "offline_access"]);
        let narrow = ScopeSet::from_static(&["openid"]);
        assert_eq!(narrow_scope(&granted, Some(&narrow)).unwrap(), narrow);
        assert_eq!(narrow_scope(&granted, None).unwrap(), granted);
        let wide = ScopeSet::from_static(&["openid", "profile"]);
        assert_eq!(narrow_scope(&granted, Some(&wide)).unwrap_err().code(), "invalid_scope");
    }
}
