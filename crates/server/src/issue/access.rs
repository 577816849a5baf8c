//! Access tokens: minted (an opaque value or a JWT's `jti`, and the record), then stored (opaque)
//! or signed (JWT, see `access_jwt.rs`).

use super::{IssueError, UserGrant, jwt_access_token};
use crate::random::ordered_token;
use crate::state::AppState;
use gatehouse_protocol::types::{AccessTokenFormat, ScopeSet, TokenHash, UnixTime};
use gatehouse_storage::{AccessTokenRecord, ClientRecord};

/// An access token minted but neither stored nor signed yet.
pub struct MintedAccess {
    /// The opaque value, or the JWT's `jti`: either way its hash is the storage key.
    id: String,
    record: AccessTokenRecord,
}

impl MintedAccess {
    /// What is stored of it: the record of an opaque token; nothing of a JWT.
    #[must_use]
    pub fn to_store(&self) -> Option<&AccessTokenRecord> {
        (self.record.format == AccessTokenFormat::Opaque).then_some(&self.record)
    }

    /// Issues it: stores an opaque token, signs a JWT, and returns the token as sent.
    ///
    /// # Errors
    /// Store or signing failures.
    pub async fn issue(self, state: &AppState) -> Result<String, IssueError> {
        if let Some(record) = self.to_store() {
            state.store.put_access_token(record).await?;
        }
        self.value(state)
    }

    /// The token as sent, once [`Self::to_store`] is stored: the opaque value, or the signed JWT.
    ///
    /// # Errors
    /// Signing failures.
    pub fn value(self, state: &AppState) -> Result<String, IssueError> {
        match self.record.format {
            AccessTokenFormat::Opaque => Ok(self.id),
            AccessTokenFormat::Jwt => jwt_access_token(state, &self.record, &self.id),
        }
    }
}

/// Mints an access token: opaque (256 random bits), stored by hash; or an RFC 9068 JWT, not stored
/// at all (see `access_jwt.rs`), as the client is registered. [`MintedAccess::issue`] stores it;
/// a refresh stores it in the rotation's own write instead.
#[must_use]
pub fn mint_access(
    state: &AppState,
    client: &ClientRecord,
    scope: &ScopeSet,
    audience: &[String],
    grant: Option<&UserGrant<'_>>,
    dpop_jkt: Option<&str>,
    now: UnixTime,
) -> MintedAccess {
    let id = ordered_token();
    let record = AccessTokenRecord {
        hash: TokenHash::ordered(&id),
        client_id: client.id.clone(),
        grant_id: grant.map(|g| g.grant_id.to_owned()),
        subject: grant.map(|g| g.user.id.clone()),
        scope: scope.clone(),
        claims: grant.map(|g| g.claims.clone()).unwrap_or_default(),
        auth_time: grant.map(|g| g.auth_time),
        issued_at: now,
        expires_at: now.plus(state.config.access_token_ttl.as_secs()),
        audience: audience.to_vec(),
        format: client.access_token_format,
        dpop_jkt: dpop_jkt.map(str::to_owned),
    };
    MintedAccess { id, record }
}
