//! Device authorizations, single-use values and client intake (pushed requests, jwks_uri fetches) on PostgreSQL.

use super::PgStore;
use crate::decode;
use crate::model::*;
use crate::ops::{self, conflict};
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

#[async_trait]
impl Devices for PgStore {
    async fn put_device(&self, d: &DeviceRecord) -> StoreResult<()> {
        self.exec(&sql::devices::INSERT, &sql::devices::params(d)?)
            .await
            .map_err(|e| conflict(e, || format!("user code {}", d.user_code.as_str())))?;
        Ok(())
    }

    async fn find_pending_device(&self, user_code: &str, now: UnixTime) -> StoreResult<Option<DeviceRecord>> {
        self.opt(&sql::devices::FIND_PENDING, &values![user_code, now], decode::device)
            .await
    }

    async fn decide_device(&self, user_code: &str, decision: &DeviceDecision, now: UnixTime) -> StoreResult<bool> {
        let params = sql::devices::decide_params(user_code, decision, now);
        Ok(self.exec(&sql::devices::DECIDE, &params).await? == 1)
    }

    async fn poll_device(
        &self,
        hash: &TokenHash,
        client_id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<Option<DevicePoll>> {
        self.opt(
            &sql::devices::POLL,
            &values![hash, now, client_id.as_str()],
            decode::device_poll,
        )
        .await
    }

    async fn list_pending_devices(&self, now: UnixTime) -> StoreResult<Vec<DeviceRecord>> {
        self.all(&sql::devices::LIST_PENDING, &values![now], decode::device)
            .await
    }

    async fn count_wrong_device_code(
        &self,
        address: &str,
        now: UnixTime,
        window_seconds: u64,
    ) -> StoreResult<(u32, UnixTime)> {
        let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
        self.opt(
            &sql::devices::COUNT_GUESS,
            &values![address, now, window],
            decode::guesses,
        )
        .await?
        .ok_or_else(|| crate::StoreError::Internal("the guess count returned no row".into()))
    }

    async fn wrong_device_codes(
        &self,
        address: &str,
        now: UnixTime,
        window_seconds: u64,
    ) -> StoreResult<Option<(u32, UnixTime)>> {
        let found = self
            .opt(&sql::devices::GUESSES, &values![address], decode::guesses)
            .await?;
        Ok(ops::current_window(found, now, window_seconds))
    }
}

#[async_trait]
impl Replays for PgStore {
    async fn first_use(
        &self,
        purpose: &str,
        hash: &TokenHash,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let id = sql::replays::seen_id(purpose, hash);
        let params = values![&id, purpose, expires_at, now];
        Ok(self.exec(&sql::replays::FIRST_USE, &params).await? == 1)
    }
}

#[async_trait]
impl Intake for PgStore {
    async fn push_request(&self, request: &PushedRequest) -> StoreResult<()> {
        self.exec(&sql::intake::PUSH, &sql::intake::push_params(request))
            .await
            .map_err(|e| conflict(e, || "pushed request".into()))?;
        Ok(())
    }

    async fn find_pushed_request(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<PushedRequest>> {
        self.opt(&sql::intake::FIND_PUSHED, &values![hash, now], decode::pushed)
            .await
    }

    async fn record_jwks_fetch(&self, fetch: &JwksFetch) -> StoreResult<()> {
        self.exec(&sql::intake::RECORD_FETCH, &sql::intake::fetch_params(fetch)?)
            .await?;
        Ok(())
    }

    async fn last_jwks_fetch(&self, client_id: &ClientId) -> StoreResult<Option<JwksFetch>> {
        self.opt(
            &sql::intake::LAST_FETCH,
            &values![client_id.as_str()],
            decode::jwks_fetch,
        )
        .await
    }
}
