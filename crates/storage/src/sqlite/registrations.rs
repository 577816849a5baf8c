//! Self-registered clients and initial access tokens on SQLite.

use super::{SqliteStore, exec, opt, ready};
use crate::decode;
use crate::model::*;
use crate::ops::{self, conflict};
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

#[async_trait]
impl Registrations for SqliteStore {
    async fn put_initial_access_token(&self, token: &InitialAccessToken) -> StoreResult<()> {
        let t = token.clone();
        self.run(move |conn| {
            let params = values![&t.hash, t.policy.as_str(), t.expires_at, t.uses_left, t.created_at];
            exec(conn, &sql::clients::PUT_INITIAL_TOKEN, &params)
                .map_err(|e| conflict(e, || "initial access token".into()))?;
            Ok(())
        })
        .await
    }

    async fn find_initial_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<String>> {
        self.read_opt(&sql::clients::FIND_INITIAL_TOKEN, &values![hash, now], decode::text)
    }

    async fn use_initial_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<String>> {
        let hash = *hash;
        self.run(move |conn| {
            opt(
                conn,
                &sql::clients::USE_INITIAL_TOKEN,
                &values![&hash, now],
                decode::text,
            )
        })
        .await
    }

    async fn replace_client(
        &self,
        client: &ClientRecord,
        forget_consents: bool,
        expected: Option<&TokenHash>,
    ) -> StoreResult<bool> {
        let (c, expected) = (client.clone(), expected.copied());
        self.run(move |tx| ready(ops::replace_client(tx, &c, forget_consents, expected.as_ref())))
            .await
    }

    async fn touch_client(&self, id: &ClientId, now: UnixTime, unless_after: UnixTime) -> StoreResult<()> {
        let id = id.clone();
        self.run(move |conn| {
            exec(conn, &sql::clients::TOUCH, &values![id.as_str(), now, unless_after])?;
            Ok(())
        })
        .await
    }

    async fn idle_clients(&self, idle_before: UnixTime, batch: u32) -> StoreResult<Vec<ClientId>> {
        let ids = self.read_all(&sql::clients::IDLE, &values![idle_before, batch], decode::text)?;
        Ok(ids.into_iter().map(ClientId::from_stored).collect())
    }
}
