//! Access-token lookups (introspection, userinfo), gathered (`gather.rs`) into one query that
//! joins the presented hashes, each with its own "now", to `access_tokens`, on the shared read
//! connection.

use super::{PgStore, pg_err};
use crate::model::AccessTokenRecord;
use crate::sql;
use crate::traits::StoreResult;
use gatehouse_protocol::types::{TokenHash, UnixTime};

/// The lookup batch; holds the store without its gathers, so the task ends with the last handle.
pub(super) struct Lookups(pub(super) PgStore);

impl super::gather::Batch for Lookups {
    type Call = (TokenHash, UnixTime);
    type Answer = Option<AccessTokenRecord>;

    async fn run(&self, calls: &[(TokenHash, UnixTime)]) -> Vec<StoreResult<Option<AccessTokenRecord>>> {
        match self.0.find_many(calls).await {
            Ok(found) => found,
            Err(e) => calls.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

impl PgStore {
    /// The live access token of each `(hash, now)`, in order; a row that cannot be decoded fails
    /// its own lookup alone.
    async fn find_many(
        &self,
        calls: &[(TokenHash, UnixTime)],
    ) -> StoreResult<Vec<StoreResult<Option<AccessTokenRecord>>>> {
        let hashes: Vec<&[u8]> = calls.iter().map(|(h, _)| h.as_bytes().as_slice()).collect();
        let nows: Vec<i64> = calls.iter().map(|(_, now)| now.0).collect();
        let order: Vec<i32> = (0..calls.len()).map(|i| i32::try_from(i).unwrap_or(i32::MAX)).collect();
        let c = self.shared_reader().await?;
        let stmt = c
            .prepare_cached(sql::tokens::FIND_ACCESS_MANY.postgres())
            .await
            .map_err(pg_err)?;
        let rows = c.query(&stmt, &[&hashes, &nows, &order]).await.map_err(pg_err)?;
        let mut found: Vec<StoreResult<Option<AccessTokenRecord>>> = calls.iter().map(|_| Ok(None)).collect();
        for row in &rows {
            let at: i32 = row.try_get(sql::tokens::FIND_ACCESS_MANY_ORDER).map_err(pg_err)?;
            if let Some(slot) = usize::try_from(at).ok().and_then(|i| found.get_mut(i)) {
                *slot = crate::decode::access_token(row).map(Some);
            }
        }
        Ok(found)
    }
}
