//! Registered clients.

use super::{Sql, Value, client_cols, insert, select, values};
use crate::codec::to_json;
use crate::model::ClientRecord;
use crate::traits::StoreResult;
use gatehouse_protocol::types::RedirectUri;

/// Parameters: [`params`].
pub(crate) static INSERT: Sql = insert!("clients", client_cols);
/// Parameters: [`params`].
pub(crate) static UPDATE: Sql = Sql::new(
    "UPDATE clients SET name = ?2, secret_hash = ?3, auth_method = ?4, redirect_uris = ?5,
     grant_types = ?6, scopes = ?7, id_token_alg = ?8, created_at = ?9, access_token_format = ?10,
     resources = ?11, introspect = ?12, post_logout_redirect_uris = ?13, backchannel_logout_uri = ?14,
     backchannel_logout_session_required = ?15, jwks = ?16, token_endpoint_auth_signing_alg = ?17,
     strict_assertion_audience = ?18, jwks_uri = ?19, request_object_signing_alg = ?20,
     require_pushed_authorization_requests = ?21, require_signed_request_object = ?22,
     dpop_bound_access_tokens = ?23 WHERE id = ?1",
);
pub(crate) static FIND: Sql = select!(client_cols, " FROM clients WHERE id = ?1");
pub(crate) static LIST: Sql = select!(client_cols, " FROM clients ORDER BY id");
/// ON DELETE CASCADE removes its codes, tokens and consents in the same statement.
pub(crate) static DELETE: Sql = Sql::new("DELETE FROM clients WHERE id = ?1");

/// The columns of a client, in [`client_cols!`] order.
pub(crate) fn params(c: &ClientRecord) -> StoreResult<[Value<'_>; 23]> {
    let uris: Vec<&str> = c.redirect_uris.iter().map(RedirectUri::as_str).collect();
    let post_logout: Vec<&str> = c.post_logout_redirect_uris.iter().map(RedirectUri::as_str).collect();
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    Ok(values![
        c.id.as_str(),
        &c.name,
        c.secret_hash.as_ref(),
        c.auth_method.as_str(),
        to_json(&uris)?,
        to_json(&grants)?,
        c.scopes.to_param(),
        c.id_token_alg.as_str(),
        c.created_at,
        c.access_token_format.as_str(),
        to_json(&c.resources)?,
        c.introspect,
        to_json(&post_logout)?,
        c.backchannel_logout_uri.as_ref().map(|u| u.as_str()),
        c.backchannel_logout_session_required,
        c.jwks.as_deref(),
        c.token_endpoint_auth_signing_alg.as_deref(),
        c.strict_assertion_audience,
        c.jwks_uri.as_ref().map(|u| u.as_str()),
        c.request_object_signing_alg.as_deref(),
        c.require_pushed_authorization_requests,
        c.require_signed_request_object,
        c.dpop_bound_access_tokens,
    ])
}
