//! `grant_type=refresh_token` (RFC 6749 §6), scope rules only; rotation and reuse detection are
//! store contracts (RFC 9700 §4.14.2).

use crate::error::Error;
use crate::types::ScopeSet;

/// The scope of the refreshed access token: the granted scope, or a subset of it when the
/// client asks to narrow (RFC 6749 §6), never beyond what the client is allowed *now*: a scope an
/// administrator has since removed from the client stops flowing through old grants.
///
/// # Errors
/// `invalid_scope` naming the first scope that was not granted.
pub fn narrow_scope(granted: &ScopeSet, requested: Option<&ScopeSet>, allowed: &ScopeSet) -> Result<ScopeSet, Error> {
    let still_allowed: ScopeSet = granted
        .iter()
        .filter(|s| allowed.contains(s.as_str()))
        .cloned()
        .collect();
    let granted = &still_allowed;
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
        assert_eq!(narrow_scope(&granted, Some(&narrow), &granted).unwrap(), narrow);
        assert_eq!(narrow_scope(&granted, None, &granted).unwrap(), granted);
        let wide = ScopeSet::from_static(&["openid", "profile"]);
        assert_eq!(
            narrow_scope(&granted, Some(&wide), &granted).unwrap_err().code(),
            "invalid_scope"
        );
    }

    #[test]
    fn a_scope_removed_from_the_client_is_dropped_at_refresh() {
        let granted = ScopeSet::from_static(&["openid", "email", "offline_access"]);
        let allowed_now = ScopeSet::from_static(&["openid", "offline_access"]);
        assert_eq!(
            narrow_scope(&granted, None, &allowed_now).unwrap(),
            ScopeSet::from_static(&["openid", "offline_access"])
        );
        let email = ScopeSet::from_static(&["email"]);
        assert_eq!(
            narrow_scope(&granted, Some(&email), &allowed_now).unwrap_err().code(),
            "invalid_scope"
        );
    }
}
