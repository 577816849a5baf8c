//! What registration (RFC 7591) and its management (RFC 7592) share: the scopes must exist, and
//! the answer has one shape. (URLs are vetted by [`crate::outbound::Outbound::vet_metadata`], which
//! metadata documents use too.)

use crate::http::error::store_error;
use crate::state::AppState;
use gatehouse_protocol::Error;
use gatehouse_protocol::registration::ClientMetadata;
use gatehouse_storage::ClientRecord;
use serde_json::{Map, Value, json};

fn bad(member: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidClientMetadata(format!("{member}: {why}").into())
}

/// Refuses scopes the server does not know (a policy may name one the registry lacks).
///
/// # Errors
/// `invalid_client_metadata` naming the scope; store errors.
pub async fn check_scopes(state: &AppState, m: &ClientMetadata) -> Result<(), Error> {
    let known = state.store.list_scopes().await.map_err(store_error)?;
    if let Some(s) = m.scope.iter().find(|s| !known.iter().any(|k| k.name == s.as_str())) {
        return Err(bad("scope", format!("{} is not a scope of this server", s.as_str())));
    }
    Ok(())
}

/// Where a self-registered client is managed (RFC 7592 §1).
#[must_use]
pub fn client_uri(state: &AppState, c: &ClientRecord) -> String {
    let mut url = format!("{}/oauth/register/", state.issuer);
    url.extend(url::form_urlencoded::byte_serialize(c.id.as_str().as_bytes()));
    url
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the client's identity, the
/// credentials issued now (shown once), and every registered member.
#[must_use]
pub fn response(state: &AppState, c: &ClientRecord, secret: Option<&str>, access_token: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("client_id".into(), json!(c.id));
    out.insert("client_id_issued_at".into(), json!(c.created_at.0));
    if let Some(s) = secret {
        out.insert("client_secret".into(), json!(s));
        // RFC 7591 §3.2.1: 0 means the secret does not expire.
        out.insert("client_secret_expires_at".into(), json!(0));
    }
    if let Some(t) = access_token {
        out.insert("registration_access_token".into(), json!(t));
    }
    out.insert("registration_client_uri".into(), json!(client_uri(state, c)));
    out.extend(c.metadata().to_json());
    Value::Object(out)
}
