//! `grant_type=client_credentials` (RFC 6749 §4.4): the scope decision is
//! `gatehouse_protocol::grant::client_credentials`; this mints the access token.

use crate::client_auth::registered;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;
use gatehouse_protocol::Error;
use gatehouse_protocol::grant::client_credentials;
use gatehouse_protocol::request::token::ClientCredentialsRequest;
use gatehouse_protocol::types::UnixTime;
use gatehouse_storage::ClientRecord;

/// Issues an access token to the client itself.
///
/// # Errors
/// `unauthorized_client`, `invalid_scope`, `invalid_target`, and store or signing failures.
pub(super) async fn issue(
    state: &AppState,
    client: &ClientRecord,
    request: ClientCredentialsRequest,
    dpop_jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    let grant = client_credentials::grant(&registered(client), request)?;
    let response = issue::client_tokens(state, client, &grant, dpop_jkt, now).await?;
    tracing::info!(target: "gatehouse::audit", event = "token.issued", grant_type = "client_credentials", client_id = %client.id);
    Ok(response)
}
