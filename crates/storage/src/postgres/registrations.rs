//! Self-registered clients and initial access tokens on PostgreSQL.

use super::PgStore;
use crate::decode;
use crate::model::*;
use crate::ops::{self, conflict};
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

#[async_trait]
impl Registrations for PgStore {
    async fn put_initial_access_token(&self, t: &InitialAccessToken) -> StoreResult<()> {
        let params = values![&t.hash, t.policy.as_str(), t.expires_at, t.uses_left, t.created_at];
        self.exec(&sql::clients::PUT_INITIAL_TOKEN, &params)
            .await
            .map_err(|e| conflict(e, || "initial access token".into()))?;
        Ok(())
    }

    async fn find_initial_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<String>> {
        self.opt(&sql::clients::FIND_INITIAL_TOKEN, &values![hash, now], decode::text)
            .await
    }

    async fn use_initial_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<String>> {
        self.opt(&sql::clients::USE_INITIAL_TOKEN, &values![hash, now], decode::text)
            .await
    }

    async fn replace_client(
        &self,
        c: &ClientRecord,
        forget_consents: bool,
        expected: Option<&TokenHash>,
    ) -> StoreResult<bool> {
        let replaced = in_tx!(self, |db| ops::replace_client(db, c, forget_consents, expected))?;
        self.caches.clients.invalidate(c.id.as_str());
        Ok(replaced)
    }

    async fn touch_client(&self, id: &ClientId, now: UnixTime, unless_after: UnixTime) -> StoreResult<()> {
        self.exec(&sql::clients::TOUCH, &values![id.as_str(), now, unless_after])
            .await?;
        Ok(())
    }

    async fn idle_clients(&self, idle_before: UnixTime, batch: u32) -> StoreResult<Vec<ClientId>> {
        let ids = self
            .all(&sql::clients::IDLE, &values![idle_before, batch], decode::text)
            .await?;
        Ok(ids.into_iter().map(ClientId::from_stored).collect())
    }
}
