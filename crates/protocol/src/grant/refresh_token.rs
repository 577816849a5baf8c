//! `grant_type=refresh_token` (RFC 6749 §6), scope rules only; rotation and reuse detection are
//! store contracts (RFC 9700 §4.14.2).

use super::RegisteredClient;
use crate::error::Error;
use crate::request::resource;
use crate::request::token::RefreshTokenRequest;
use crate::types::{ClientId, ScopeSet};

/// What a refresh issues: the access token's scope and audience. The successor refresh token
/// keeps the full granted scope and resources, so a narrowed refresh can widen back later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// The access token's scope.
    pub scope: ScopeSet,
    /// The access token's audience (RFC 8707).
    pub audience: Vec<String>,
}

/// Checks that the presented refresh token was issued to the authenticated client.
///
/// # Errors
/// `invalid_grant` when it was issued to another client.
pub fn verify_owner(owner: &ClientId, client: &RegisteredClient<'_>) -> Result<(), Error> {
    if owner == client.id {
        Ok(())
    } else {
        Err(Error::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ))
    }
}

/// Decides a refresh of a token granted `scope` and `resources`: the requested narrowing of both
/// ([`narrow_scope`], RFC 8707 §2.2), within what the client is allowed now.
///
/// # Errors
/// `invalid_scope` naming the first scope not granted; `invalid_target` naming the first resource
/// not authorized.
pub fn refresh(
    scope: &ScopeSet,
    resources: &[String],
    client: &RegisteredClient<'_>,
    request: &RefreshTokenRequest,
) -> Result<Refresh, Error> {
    Ok(Refresh {
        scope: narrow_scope(scope, request.scope.as_ref(), client.scopes)?,
        audience: resource::narrow(resources, request.resources.clone())?,
    })
}

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

    fn request(scope: Option<&str>, resources: &[&str]) -> RefreshTokenRequest {
        RefreshTokenRequest {
            refresh_token: crate::types::Secret::new("r".into()),
            scope: scope.map(|s| ScopeSet::parse(s).unwrap()),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn a_refresh_narrows_scope_and_audience_or_keeps_them() {
        let id = ClientId::parse("app").unwrap();
        let allowed = ScopeSet::from_static(&["openid", "email", "offline_access"]);
        let client = RegisteredClient {
            id: &id,
            kind: crate::types::ClientKind::Public,
            grant_types: &[],
            scopes: &allowed,
            resources: &[],
        };
        let granted = ScopeSet::from_static(&["openid", "offline_access"]);
        let authorized = ["https://a.example".to_owned(), "https://b.example".to_owned()];
        let same = refresh(&granted, &authorized, &client, &request(None, &[])).unwrap();
        assert_eq!((same.scope, same.audience.len()), (granted.clone(), 2));
        let narrow = refresh(
            &granted,
            &authorized,
            &client,
            &request(Some("openid"), &["https://b.example"]),
        )
        .unwrap();
        assert_eq!(narrow.scope.to_param(), "openid");
        assert_eq!(narrow.audience, ["https://b.example"]);
        let wider = refresh(&granted, &authorized, &client, &request(Some("email"), &[]));
        assert_eq!(wider.unwrap_err().code(), "invalid_scope");
        let elsewhere = refresh(&granted, &authorized, &client, &request(None, &["https://c.example"]));
        assert_eq!(elsewhere.unwrap_err().code(), "invalid_target");
    }

    #[test]
    fn a_token_of_another_client_is_invalid_grant() {
        let (app, other) = (ClientId::parse("app").unwrap(), ClientId::parse("other").unwrap());
        let scopes = ScopeSet::default();
        let client = RegisteredClient {
            id: &app,
            kind: crate::types::ClientKind::Confidential,
            grant_types: &[],
            scopes: &scopes,
            resources: &[],
        };
        assert!(verify_owner(&app, &client).is_ok());
        assert_eq!(verify_owner(&other, &client).unwrap_err().code(), "invalid_grant");
    }

    proptest::proptest! {
        #[test]
        fn a_refreshed_scope_never_exceeds_the_grant_or_the_client(
            granted in proptest::collection::btree_set("[a-e]", 0..5),
            allowed in proptest::collection::btree_set("[a-e]", 0..5),
            asked in proptest::option::of(proptest::collection::btree_set("[a-e]", 0..5)),
        ) {
            let set = |names: &std::collections::BTreeSet<String>| {
                ScopeSet::parse(&names.iter().cloned().collect::<Vec<_>>().join(" ")).unwrap()
            };
            let (granted, allowed) = (set(&granted), set(&allowed));
            if let Ok(s) = narrow_scope(&granted, asked.as_ref().map(set).as_ref(), &allowed) {
                proptest::prop_assert!(s.is_subset(&granted) && s.is_subset(&allowed));
            }
        }
    }
}
