//! Registered clients.

use super::{Sql, Value, client_cols, insert, select, values};
use crate::codec::to_json;
use crate::model::ClientRecord;
use crate::traits::StoreResult;
use gatehouse_protocol::types::RedirectUri;

/// Parameters: [`params`].
pub(crate) static INSERT: Sql = insert!("clients", client_cols);
/// The assignments of an update: every column but `id` and `last_used_at` (which only [`TOUCH`]
/// writes), in [`params`] order.
macro_rules! client_set {
    () => {
        "UPDATE clients SET name = ?2, secret_hash = ?3, auth_method = ?4, redirect_uris = ?5,
     grant_types = ?6, scopes = ?7, id_token_alg = ?8, created_at = ?9, access_token_format = ?10,
     resources = ?11, introspect = ?12, post_logout_redirect_uris = ?13, backchannel_logout_uri = ?14,
     backchannel_logout_session_required = ?15, jwks = ?16, token_endpoint_auth_signing_alg = ?17,
     strict_assertion_audience = ?18, jwks_uri = ?19, request_object_signing_alg = ?20,
     require_pushed_authorization_requests = ?21, require_signed_request_object = ?22,
     dpop_bound_access_tokens = ?23, origin = ?24, registration_token_hash = ?25,
     registration_policy = ?26, about = ?27, userinfo_signed_response_alg = ?28, default_max_age = ?29,
     require_auth_time = ?30, secret_set_at = ?31 WHERE id = ?1"
    };
}

/// Parameters: the first [`UPDATED`] of [`params`].
pub(crate) static UPDATE: Sql = Sql::new(client_set!());
/// As [`UPDATE`], and then the registration access token hash the row must still hold (RFC 7592
/// §2.2: a replayed token replaces nothing).
pub(crate) static UPDATE_IF_TOKEN: Sql = Sql::new(concat!(client_set!(), " AND registration_token_hash = ?32"));
/// How many of [`params`] an update binds.
pub(crate) const UPDATED: usize = 31;
pub(crate) static FIND: Sql = select!(client_cols, " FROM clients WHERE id = ?1");
/// SQLite only: how many changes `clients` has seen (migration 015), to keep cached clients honest.
pub(crate) static CHANGES: Sql = Sql::new("SELECT n FROM client_changes");
pub(crate) static LIST: Sql = select!(client_cols, " FROM clients ORDER BY id");
/// `(id, now, unless_after)`: records a use, unless one after `unless_after` is recorded.
pub(crate) static TOUCH: Sql =
    Sql::new("UPDATE clients SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)");
/// `(idle_before, batch)`: self-registered clients unused (or, never used, created) before then.
pub(crate) static IDLE: Sql = Sql::new(
    "SELECT id FROM clients WHERE origin <> 'operator' AND COALESCE(last_used_at, created_at) < ?1 ORDER BY id LIMIT ?2",
);
/// `(client_id)`: every user's remembered consent to the client.
pub(crate) static FORGET_CONSENTS: Sql = Sql::new("DELETE FROM consents WHERE client_id = ?1");
/// `(hash, policy, expires_at, uses_left, created_at)`.
pub(crate) static PUT_INITIAL_TOKEN: Sql = Sql::new(
    "INSERT INTO initial_access_tokens (hash, policy, expires_at, uses_left, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
);
/// `(hash, now)`: the policy of a live token with a use left.
pub(crate) static FIND_INITIAL_TOKEN: Sql = Sql::new(
    "SELECT policy FROM initial_access_tokens WHERE hash = ?1 AND expires_at > ?2 AND (uses_left IS NULL OR uses_left > 0)",
);
/// `(hash, now)`: uses the token once; its policy if it was live with uses left.
pub(crate) static USE_INITIAL_TOKEN: Sql = Sql::new(
    "UPDATE initial_access_tokens SET uses_left = uses_left - 1
     WHERE hash = ?1 AND expires_at > ?2 AND (uses_left IS NULL OR uses_left > 0) RETURNING policy",
);
/// ON DELETE CASCADE removes its codes, tokens and consents in the same statement.
pub(crate) static DELETE: Sql = Sql::new("DELETE FROM clients WHERE id = ?1");

/// The columns of a client, in [`client_cols!`] order.
pub(crate) fn params(c: &ClientRecord) -> StoreResult<[Value<'_>; 32]> {
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
        c.origin.as_str(),
        c.registration_token_hash.as_ref(),
        c.registration_policy.as_deref(),
        to_json(&c.about)?,
        c.userinfo_alg.map(|a| a.as_str()),
        c.default_max_age,
        c.require_auth_time,
        c.secret_set_at,
        c.last_used_at,
    ])
}
