//! Device authorizations, single-use values and client intake (pushed requests, jwks_uri fetches) on SQLite: writes on the store thread, reads on
//! the reader pool.

use super::{SqliteStore, exec, opt};
use crate::decode;
use crate::model::*;
use crate::ops::{self, conflict};
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

#[async_trait]
impl Devices for SqliteStore {
    async fn put_device(&self, device: &DeviceRecord) -> StoreResult<()> {
        let d = device.clone();
        self.run(move |conn| {
            exec(conn, &sql::devices::INSERT, &sql::devices::params(&d)?)
                .map_err(|e| conflict(e, || format!("user code {}", d.user_code.as_str())))?;
            Ok(())
        })
        .await
    }

    async fn find_pending_device(&self, user_code: &str, now: UnixTime) -> StoreResult<Option<DeviceRecord>> {
        self.read_opt(&sql::devices::FIND_PENDING, &values![user_code, now], decode::device)
    }

    async fn decide_device(&self, user_code: &str, decision: &DeviceDecision, now: UnixTime) -> StoreResult<bool> {
        let (code, decision) = (user_code.to_owned(), decision.clone());
        self.run(move |conn| {
            Ok(exec(
                conn,
                &sql::devices::DECIDE,
                &sql::devices::decide_params(&code, &decision, now),
            )? == 1)
        })
        .await
    }

    async fn poll_device(
        &self,
        hash: &TokenHash,
        client_id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<Option<DevicePoll>> {
        let (h, c) = (*hash, client_id.clone());
        self.run(move |conn| {
            opt(
                conn,
                &sql::devices::POLL,
                &values![&h, now, c.as_str()],
                decode::device_poll,
            )
        })
        .await
    }

    async fn list_pending_devices(&self, now: UnixTime) -> StoreResult<Vec<DeviceRecord>> {
        self.read_all(&sql::devices::LIST_PENDING, &values![now], decode::device)
    }

    async fn count_wrong_device_code(
        &self,
        address: &str,
        now: UnixTime,
        window_seconds: u64,
    ) -> StoreResult<(u32, UnixTime)> {
        let (address, window) = (address.to_owned(), i64::try_from(window_seconds).unwrap_or(i64::MAX));
        let counted = self
            .run(move |conn| {
                opt(
                    conn,
                    &sql::devices::COUNT_GUESS,
                    &values![&address, now, window],
                    decode::guesses,
                )
            })
            .await?;
        counted.ok_or_else(|| crate::StoreError::Internal("the guess count returned no row".into()))
    }

    async fn wrong_device_codes(
        &self,
        address: &str,
        now: UnixTime,
        window_seconds: u64,
    ) -> StoreResult<Option<(u32, UnixTime)>> {
        let found = self.read_opt(&sql::devices::GUESSES, &values![address], decode::guesses)?;
        Ok(ops::current_window(found, now, window_seconds))
    }
}

#[async_trait]
impl Replays for SqliteStore {
    async fn first_use(
        &self,
        purpose: &str,
        hash: &TokenHash,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        // Group-committed with its neighbours (client assertions and DPoP proofs arrive on the hot
        // path): one fsync for many.
        let id = sql::replays::seen_id(purpose, hash);
        let purpose = purpose.to_owned();
        self.run(move |conn| {
            let params = sql::values![&id, purpose.as_str(), expires_at, now];
            Ok(exec(conn, &sql::replays::FIRST_USE, &params)? == 1)
        })
        .await
    }
}

#[async_trait]
impl Intake for SqliteStore {
    async fn push_request(&self, request: &PushedRequest) -> StoreResult<()> {
        let r = request.clone();
        self.run(move |conn| {
            exec(conn, &sql::intake::PUSH, &sql::intake::push_params(&r))
                .map_err(|e| conflict(e, || "pushed request".into()))?;
            Ok(())
        })
        .await
    }

    async fn find_pushed_request(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<PushedRequest>> {
        self.read_opt(&sql::intake::FIND_PUSHED, &values![hash, now], decode::pushed)
    }

    async fn record_jwks_fetch(&self, fetch: &JwksFetch) -> StoreResult<()> {
        let f = fetch.clone();
        self.run(move |conn| {
            exec(conn, &sql::intake::RECORD_FETCH, &sql::intake::fetch_params(&f)?)?;
            Ok(())
        })
        .await
    }

    async fn last_jwks_fetch(&self, client_id: &ClientId) -> StoreResult<Option<JwksFetch>> {
        self.read_opt(
            &sql::intake::LAST_FETCH,
            &values![client_id.as_str()],
            decode::jwks_fetch,
        )
    }
}
