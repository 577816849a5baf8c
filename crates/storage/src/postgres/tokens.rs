//! Codes, tokens and keys on PostgreSQL: what the server issues and signs with. Access-token
//! inserts use the no-flush pool.

use super::{Pg, PgStore, lookups};
use crate::decode;
use crate::model::*;
use crate::ops::{self, Db};
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

#[async_trait]
impl Codes for PgStore {
    async fn put_code(&self, hash: &TokenHash, g: &CodeGrant, now: UnixTime) -> StoreResult<()> {
        let c = self.client().await?;
        ops::put_code(&Pg(&c), hash, g, now).await
    }

    async fn find_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<(CodeGrant, bool)>> {
        self.opt(&sql::codes::FIND, &values![hash, now], decode::code).await
    }

    async fn take_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Taken> {
        let c = self.client().await?;
        ops::take_code(&Pg(&c), hash, now).await
    }
}

#[async_trait]
impl Tokens for PgStore {
    async fn put_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
        // Gathered with the others waiting into one statement: see `inserts.rs`.
        self.insert_access_token(t).await
    }

    async fn find_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<AccessTokenRecord>> {
        // Gathered with the others waiting into one query: see `lookups.rs`.
        let batch = || lookups::Lookups(self.without_gathers());
        self.gathers.lookups.call((*hash, now), batch).await
    }

    async fn jwt_access_revoked(&self, token: &AccessTokenRecord, issued_ms: i64) -> StoreResult<bool> {
        let key = crate::cache::revocation_key(token, issued_ms);
        let params = sql::tokens::jwt_revoked_params(token, issued_ms);
        let load = async {
            let revoked = self
                .read_opt(&sql::tokens::JWT_REVOKED, &params, decode::exists)
                .await?;
            Ok(if revoked.is_some() { None } else { Some(()) })
        };
        Ok(self.caches.revocations.through(&key, load).await?.is_none())
    }

    async fn revoke_jwt_access_token(&self, hash: &TokenHash, expires_at: UnixTime) -> StoreResult<()> {
        self.revoking(self.exec(&sql::tokens::REVOKE_JWT, &values![hash, expires_at]).await)?;
        Ok(())
    }

    async fn put_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        self.exec(&sql::tokens::INSERT_REFRESH, &sql::tokens::refresh_params(t)?)
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
        // A live token, the common case, in one statement; anything else in the transaction that
        // tells a retry from a replay.
        let binding = successor.binding();
        let rotation = values![hash, now, &successor.hash, successor.expires_at, binding.as_deref()];
        let (statement, params) = match &successor.access_token {
            None => (&sql::tokens::ROTATE_LIVE, rotation.to_vec()),
            Some(access) => {
                let issued = sql::tokens::access_params(access)?;
                (
                    &sql::tokens::ROTATE_LIVE_ISSUING,
                    rotation.into_iter().chain(issued).collect(),
                )
            }
        };
        match self.opt(statement, &params, decode::refresh_token).await {
            Ok(Some(old)) => return Ok(Rotation::Rotated(Box::new(old))),
            // A deadlock (with a client being deleted, say) is settled by the transaction below,
            // which retries.
            Err(e) if !super::lost_a_race(&e) => return Err(e),
            _ => {}
        }
        let rotation = in_tx!(self, |db| ops::rotate_refresh_token(
            db,
            hash,
            &successor,
            now,
            grace_seconds
        ))?;
        if matches!(rotation, Rotation::Reused { .. }) {
            // A replayed refresh token revoked its family.
            self.caches.revocations.clear();
        }
        Ok(rotation)
    }

    async fn revoke_access_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let params = values![hash, client_id.as_str(), now];
        Ok(self.revoking(self.exec(&sql::tokens::REVOKE_ACCESS, &params).await)? == 1)
    }

    async fn revoke_refresh_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        self.revoking(in_tx!(self, |db| ops::revoke_refresh_token(db, hash, client_id, now)))
    }

    async fn cleanup(&self, now: UnixTime, revoked_before: UnixTime, batch: u32) -> StoreResult<CleanupReport> {
        let params = ops::cleanup_params(now, revoked_before, batch);
        ops::cleanup(batch, |job| self.exec(&job.sql, &params)).await
    }

    async fn find_refresh_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>> {
        self.read_opt(&sql::tokens::FIND_REFRESH, &values![hash, now], decode::refresh_token)
            .await
    }

    async fn list_refresh_tokens(&self, now: UnixTime) -> StoreResult<Vec<RefreshTokenRecord>> {
        self.all(&sql::tokens::LIST_REFRESH, &values![now], decode::refresh_token)
            .await
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> StoreResult<u64> {
        self.revoking(in_tx!(self, |db| ops::revoke_grant(db, grant_id, now)))
    }
}

#[async_trait]
impl Keys for PgStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.all(&sql::keys::LIST, &[], decode::key).await
    }

    async fn replace_key_material(&self, kid: &str, private_der: &[u8]) -> StoreResult<bool> {
        Ok(self.exec(&sql::keys::SET_MATERIAL, &values![kid, private_der]).await? == 1)
    }

    async fn replace_server_secret(&self, name: &str, value: &[u8]) -> StoreResult<bool> {
        Ok(self.exec(&sql::keys::SET_SECRET, &values![name, value]).await? == 1)
    }

    async fn retire_key(&self, kid: &str, at: UnixTime) -> StoreResult<bool> {
        let c = self.client().await?;
        ops::retire_key(&Pg(&c), kid, at).await
    }

    async fn server_secret(&self, name: &str, candidate: &[u8], now: UnixTime) -> StoreResult<Vec<u8>> {
        let c = self.client().await?;
        ops::server_secret(&Pg(&c), name, candidate, now).await
    }

    async fn put_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        let c = self.client().await?;
        ops::put_key(&Pg(&c), k).await
    }

    async fn rotate_key(
        &self,
        k: &SigningKeyRecord,
        expected_newest: Option<&str>,
        retire_previous_at: UnixTime,
    ) -> StoreResult<bool> {
        in_tx!(self, |db| async {
            // Serialise rotations, so instances rotating on a timer add one key, not one each.
            db.exec(&sql::keys::ROTATION_LOCK, &values![sql::keys::ROTATION_LOCK_KEY])
                .await?;
            ops::rotate_key(db, k, expected_newest, retire_previous_at).await
        })
    }
}
