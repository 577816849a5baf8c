//! Operations on clients and users' consent to them, of more than one statement.

use super::Db;
use crate::decode;
use crate::error::StoreError;
use crate::model::ClientRecord;
use crate::sql::{self, values};
use crate::traits::StoreResult;
use gatehouse_protocol::types::{ClientId, ScopeSet, UnixTime};

/// Replaces a client's registration and, with `forget_consents`, every consent to it. Run in a
/// transaction.
pub(crate) async fn replace_client(db: &impl Db, c: &ClientRecord, forget_consents: bool) -> StoreResult<bool> {
    let params = sql::clients::params(c)?;
    let replaced = db.exec(&sql::clients::UPDATE, &params[..30]).await? == 1;
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
