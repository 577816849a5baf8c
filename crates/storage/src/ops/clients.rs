//! Operations on clients and users' consent to them, of more than one statement.

use super::Db;
use crate::decode;
use crate::error::StoreError;
use crate::model::ClientRecord;
use crate::sql::{self, values};
use crate::traits::StoreResult;
use gatehouse_protocol::types::{ClientId, ScopeSet, TokenHash, UnixTime};

/// Replaces a client's registration (only while it still holds the registration access token
/// `expected`, if given) and, with `forget_consents`, every consent to it. Run in a transaction.
pub(crate) async fn replace_client(
    db: &impl Db,
    c: &ClientRecord,
    forget_consents: bool,
    expected: Option<&TokenHash>,
) -> StoreResult<bool> {
    let params = sql::clients::params(c)?;
    let updated = &params[..sql::clients::UPDATED];
    let replaced = match expected {
        None => db.exec(&sql::clients::UPDATE, updated).await?,
        Some(hash) => {
            let mut with_token = updated.to_vec();
            with_token.push(hash.into());
            db.exec(&sql::clients::UPDATE_IF_TOKEN, &with_token).await?
        }
    } == 1;
    if replaced && forget_consents {
        db.exec(&sql::clients::FORGET_CONSENTS, &values![c.id.as_str()]).await?;
    }
    Ok(replaced)
}

/// Adds to a user's consent for a client: concurrent grants never lose a scope. Run in a
/// transaction.
pub(crate) async fn grant_consent(
    db: &impl Db,
    user_id: &str,
    client_id: &ClientId,
    scope: &ScopeSet,
    now: UnixTime,
) -> StoreResult<()> {
    let (user, client) = (user_id, client_id.as_str());
    db.exec(&sql::consents::CREATE_EMPTY, &values![user, client, now])
        .await?;
    let before = db
        .opt(&sql::consents::LOCK, &values![user, client], decode::text)
        .await?
        .ok_or_else(|| StoreError::Internal("consent row vanished".into()))?;
    let merged = crate::codec::parse_scope(&before)?.union(scope);
    db.exec(&sql::consents::SET, &values![user, client, merged.to_param(), now])
        .await?;
    Ok(())
}
