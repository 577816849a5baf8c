//! Codes, tokens and keys on SQLite: what the server issues and signs with. Access-token inserts
//! go to the store thread's group commit.

use super::{SqliteStore, exec, ready};
use crate::decode;
use crate::model::*;
use crate::ops;
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

#[async_trait]
impl Codes for SqliteStore {
    async fn put_code(&self, hash: &TokenHash, grant: &CodeGrant, now: UnixTime) -> StoreResult<()> {
        let (h, g) = (*hash, grant.clone());
        self.run(move |conn| ready(ops::put_code(conn, &h, &g, now))).await
    }

    async fn find_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<(CodeGrant, bool)>> {
        self.read_opt(&sql::codes::FIND, &values![hash, now], decode::code)
    }

    async fn take_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Taken> {
        let h = *hash;
        self.run(move |conn| ready(ops::take_code(conn, &h, now))).await
    }
}

#[async_trait]
impl Tokens for SqliteStore {
    async fn put_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()> {
        let t = token.clone();
        self.run_relaxed(move |conn| {
            exec(conn, &sql::tokens::INSERT_ACCESS, &sql::tokens::access_params(&t)?)?;
            Ok(())
        })
        .await
    }

    async fn find_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<AccessTokenRecord>> {
        self.read_opt(&sql::tokens::FIND_ACCESS, &values![hash, now], decode::access_token)
    }

    async fn jwt_access_revoked(&self, token: &AccessTokenRecord, issued_ms: i64) -> StoreResult<bool> {
        self.cached_jwt_revoked(token, issued_ms)
    }

    async fn revoke_jwt_access_token(&self, hash: &TokenHash, expires_at: UnixTime) -> StoreResult<()> {
        let h = *hash;
        self.run(move |conn| exec(conn, &sql::tokens::REVOKE_JWT, &values![&h, expires_at]).map(|_| ()))
            .await
    }

    async fn put_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()> {
        let t = token.clone();
        self.run(move |conn| exec(conn, &sql::tokens::INSERT_REFRESH, &sql::tokens::refresh_params(&t)?))
            .await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        successor: Successor,
        now: UnixTime,
        grace_seconds: u64,
    ) -> StoreResult<Rotation> {
        let h = *hash;
        self.run(move |tx| ready(ops::rotate_refresh_token(tx, &h, &successor, now, grace_seconds)))
            .await
    }

    async fn revoke_access_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let (h, c) = (*hash, client_id.clone());
        self.run(move |conn| Ok(exec(conn, &sql::tokens::REVOKE_ACCESS, &values![&h, c.as_str(), now])? == 1))
            .await
    }

    async fn revoke_refresh_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let (h, c) = (*hash, client_id.clone());
        self.run(move |tx| ready(ops::revoke_refresh_token(tx, &h, &c, now)))
            .await
    }

    async fn cleanup(&self, now: UnixTime, revoked_before: UnixTime, batch: u32) -> StoreResult<CleanupReport> {
        // Each batch is a job of its own: a writer never holds the lock for long.
        ops::cleanup(batch, |job| {
            self.run(move |conn| exec(conn, &job.sql, &ops::cleanup_params(now, revoked_before, batch)))
        })
        .await
    }

    async fn find_refresh_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>> {
        self.read_opt(&sql::tokens::FIND_REFRESH, &values![hash, now], decode::refresh_token)
    }

    async fn list_refresh_tokens(&self, now: UnixTime) -> StoreResult<Vec<RefreshTokenRecord>> {
        self.read_all(&sql::tokens::LIST_REFRESH, &values![now], decode::refresh_token)
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> StoreResult<u64> {
        let g = grant_id.to_owned();
        self.run(move |tx| ready(ops::revoke_grant(tx, &g, now))).await
    }
}

#[async_trait]
impl Keys for SqliteStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.read_all(&sql::keys::LIST, &[], decode::key)
    }

    async fn put_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let k = key.clone();
        self.run(move |conn| ready(ops::put_key(conn, &k))).await
    }

    async fn rotate_key(
        &self,
        key: &SigningKeyRecord,
        expected_newest: Option<&str>,
        retire_previous_at: UnixTime,
    ) -> StoreResult<bool> {
        let (k, expected) = (key.clone(), expected_newest.map(str::to_owned));
        self.run(move |tx| ready(ops::rotate_key(tx, &k, expected.as_deref(), retire_previous_at)))
            .await
    }

    async fn retire_key(&self, kid: &str, at: UnixTime) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.run(move |conn| ready(ops::retire_key(conn, &kid, at))).await
    }

    async fn replace_key_material(&self, kid: &str, private_der: &[u8]) -> StoreResult<bool> {
        let (kid, der) = (kid.to_owned(), private_der.to_vec());
        self.run(move |conn| Ok(exec(conn, &sql::keys::SET_MATERIAL, &values![&kid, &der])? == 1))
            .await
    }

    async fn replace_server_secret(&self, name: &str, value: &[u8]) -> StoreResult<bool> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.run(move |conn| Ok(exec(conn, &sql::keys::SET_SECRET, &values![&name, &value])? == 1))
            .await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8], now: UnixTime) -> StoreResult<Vec<u8>> {
        let (name, candidate) = (name.to_owned(), candidate.to_vec());
        self.run(move |conn| ready(ops::server_secret(conn, &name, &candidate, now)))
            .await
    }
}
