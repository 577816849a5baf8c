//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client asks for a token for
//! itself. There is no user, so the user-facing built-in scopes are never granted.

use super::RegisteredClient;
use crate::error::Error;
use crate::request::resource;
use crate::request::token::ClientCredentialsRequest;
use crate::types::{BuiltinScope, ClientKind, GrantType, ScopeSet};

/// What a client-credentials token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentialsGrant {
    /// The granted scopes.
    pub scope: ScopeSet,
    /// The resources (RFC 8707) the token is for; empty means the client itself.
    pub audience: Vec<String>,
}

/// Decides the scope and audience of a client-credentials token. A requested scope must be
/// allowed to the client and not a built-in (user) scope; without `scope`, the default is every
/// allowed scope except the built-in ones.
///
/// # Errors
/// `unauthorized_client` for a public client (it has no secret) or one not registered for the
/// grant; `invalid_scope` naming the first scope refused; `invalid_target` naming the first
/// resource the client may not use.
pub fn grant(
    client: &RegisteredClient<'_>,
    request: ClientCredentialsRequest,
) -> Result<ClientCredentialsGrant, Error> {
    if client.kind == ClientKind::Public {
        return Err(Error::UnauthorizedClient(
            "public clients cannot use client_credentials: they have no secret".into(),
        ));
    }
    client.verify_grant(GrantType::ClientCredentials)?;
    // User-facing scopes make no sense without a user; the default is every other allowed scope.
    let scope = match request.scope {
        Some(s) => {
            if let Some(bad) = s
                .iter()
                .find(|x| !client.scopes.contains(x.as_str()) || BuiltinScope::is_builtin(x))
            {
                return Err(Error::InvalidScope(
                    format!(
                        "scope {} is not allowed for this client with client_credentials",
                        bad.as_str()
                    )
                    .into(),
                ));
            }
            s
        }
        None => client
            .scopes
            .iter()
            .filter(|s| !BuiltinScope::is_builtin(s))
            .cloned()
            .collect(),
    };
    resource::verify_allowed(&request.resources, client.resources)?;
    Ok(ClientCredentialsGrant {
        scope,
        audience: request.resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ClientId;
    use proptest::prelude::*;

    const API: &str = "https://api.example.com";

    fn request(scope: Option<&str>, resources: &[&str]) -> ClientCredentialsRequest {
        ClientCredentialsRequest {
            scope: scope.map(|s| ScopeSet::parse(s).unwrap()),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    fn decide(
        kind: ClientKind,
        grants: &[GrantType],
        request: ClientCredentialsRequest,
    ) -> Result<ClientCredentialsGrant, Error> {
        let id = ClientId::parse("svc").unwrap();
        let scopes = ScopeSet::from_static(&["openid", "offline_access", "api:read", "api:write"]);
        let resources = [API.to_owned()];
        let client = RegisteredClient {
            id: &id,
            kind,
            grant_types: grants,
            scopes: &scopes,
            resources: &resources,
        };
        grant(&client, request)
    }

    const CC: &[GrantType] = &[GrantType::ClientCredentials];

    #[test]
    fn the_default_scope_is_every_allowed_scope_but_the_user_ones() {
        let g = decide(ClientKind::Confidential, CC, request(None, &[])).unwrap();
        assert_eq!(g.scope.to_param(), "api:read api:write");
        assert!(g.audience.is_empty());
    }

    #[test]
    fn an_allowed_scope_and_resource_are_granted_as_asked() {
        let g = decide(ClientKind::Confidential, CC, request(Some("api:read"), &[API])).unwrap();
        assert_eq!(g.scope.to_param(), "api:read");
        assert_eq!(g.audience, [API]);
    }

    #[test]
    fn a_public_client_is_unauthorized_client_even_when_registered_for_the_grant() {
        let e = decide(ClientKind::Public, CC, request(None, &[])).unwrap_err();
        assert_eq!(e.code(), "unauthorized_client");
    }

    #[test]
    fn a_client_without_the_grant_is_unauthorized_client() {
        let e = decide(
            ClientKind::Confidential,
            &[GrantType::AuthorizationCode],
            request(None, &[]),
        )
        .unwrap_err();
        assert_eq!(e.code(), "unauthorized_client");
    }

    #[test]
    fn user_scopes_and_scopes_not_allowed_are_invalid_scope() {
        for scope in ["openid", "api:read offline_access", "api:admin"] {
            let e = decide(ClientKind::Confidential, CC, request(Some(scope), &[])).unwrap_err();
            assert_eq!(e.code(), "invalid_scope", "{scope}");
        }
    }

    #[test]
    fn a_resource_not_registered_is_invalid_target() {
        let e = decide(ClientKind::Confidential, CC, request(None, &["https://other.example"])).unwrap_err();
        assert_eq!(e.code(), "invalid_target");
    }

    proptest! {
        #[test]
        fn a_granted_scope_is_always_allowed_and_never_builtin(
            asked in proptest::collection::vec(
                prop_oneof![Just("openid"), Just("profile"), Just("offline_access"), Just("api:read"), Just("api:write"), Just("x")],
                0..5,
            ),
            explicit in any::<bool>(),
        ) {
            let scope = explicit.then(|| asked.join(" "));
            if let Ok(g) = decide(ClientKind::Confidential, CC, request(scope.as_deref(), &[])) {
                for s in g.scope.iter() {
                    prop_assert!(!BuiltinScope::is_builtin(s));
                    prop_assert!(["api:read", "api:write"].contains(&s.as_str()));
                }
            }
        }
    }
}
