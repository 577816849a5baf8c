//! The store traits on PostgreSQL (codes, tokens and keys are in `tokens.rs`). Same contracts as
//! the embedded store, checked by the same suite.

use super::{Pg, PgStore, pg_err};
use crate::decode;
use crate::model::*;
use crate::ops::{self, conflict};
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::types::{ClientId, ScopeSet, TokenHash, UnixTime};

#[async_trait]
impl Clients for PgStore {
    async fn create_client(&self, c: &ClientRecord) -> StoreResult<()> {
        self.exec(&sql::clients::INSERT, &sql::clients::params(c)?)
            .await
            .map_err(|e| conflict(e, || format!("client {}", c.id)))?;
        Ok(())
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        let params = values![id.as_str()];
        let load = self.read_opt(&sql::clients::FIND, &params, decode::client);
        self.caches.clients.through(id.as_str(), load).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.all(&sql::clients::LIST, &[], decode::client).await
    }

    async fn update_client(&self, c: &ClientRecord) -> StoreResult<bool> {
        let n = self
            .exec(
                &sql::clients::UPDATE,
                &sql::clients::params(c)?[..sql::clients::UPDATED],
            )
            .await?;
        // The notification would do this too; doing it here makes the change visible at once.
        self.caches.clients.invalidate(c.id.as_str());
        Ok(n == 1)
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        let n = self.revoking(self.exec(&sql::clients::DELETE, &values![id.as_str()]).await)?;
        self.caches.clients.invalidate(id.as_str());
        Ok(n == 1)
    }
}

#[async_trait]
impl Users for PgStore {
    async fn create_user(&self, u: &UserRecord) -> StoreResult<()> {
        self.exec(&sql::users::INSERT, &sql::users::params(u))
            .await
            .map_err(|e| conflict(e, || format!("user {}", u.username)))?;
        Ok(())
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.read_opt(&sql::users::FIND, &values![id], decode::user).await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.read_opt(&sql::users::FIND_BY_USERNAME, &values![username], decode::user)
            .await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.all(&sql::users::LIST, &[], decode::user).await
    }

    async fn update_user(&self, u: &UserRecord) -> StoreResult<bool> {
        let n = self
            .exec(&sql::users::UPDATE, &sql::users::params(u))
            .await
            .map_err(|e| conflict(e, || format!("user {}", u.username)))?;
        Ok(n == 1)
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        self.revoking(in_tx!(self, |db| ops::delete_user(db, id)))
    }
}

#[async_trait]
impl Scopes for PgStore {
    async fn create_scope(&self, s: &ScopeRecord) -> StoreResult<()> {
        self.exec(&sql::scopes::INSERT, &values![&s.name, &s.description, s.builtin])
            .await
            .map_err(|e| conflict(e, || format!("scope {}", s.name)))?;
        Ok(())
    }

    async fn list_scopes(&self) -> StoreResult<Vec<ScopeRecord>> {
        self.all(&sql::scopes::LIST, &[], decode::scope).await
    }

    async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        Ok(self.exec(&sql::scopes::DELETE, &values![name]).await? == 1)
    }
}

#[async_trait]
impl Consents for PgStore {
    async fn find_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<Option<ScopeSet>> {
        let params = values![user_id, client_id.as_str()];
        self.opt(&sql::consents::FIND, &params, decode::scope_set).await
    }

    async fn list_consents(&self) -> StoreResult<Vec<(String, ClientId, ScopeSet, UnixTime)>> {
        self.all(&sql::consents::LIST, &[], decode::consent).await
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()> {
        in_tx!(self, |db| ops::grant_consent(db, user_id, client_id, scope, now))
    }
}

#[async_trait]
impl Sessions for PgStore {
    async fn put_session(&self, s: &BrowserSession) -> StoreResult<()> {
        self.exec(&sql::sessions::INSERT_SESSION, &sql::sessions::session_params(s))
            .await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<BrowserSession>> {
        self.read_opt(&sql::sessions::FIND_SESSION, &values![token_hash, now], decode::session)
            .await
    }

    async fn delete_session(&self, token_hash: &TokenHash) -> StoreResult<()> {
        self.exec(&sql::sessions::DELETE_SESSION, &values![token_hash]).await?;
        Ok(())
    }

    async fn renew_session(&self, old: &TokenHash, s: &BrowserSession) -> StoreResult<bool> {
        let params = values![old, &s.token_hash, s.auth_time, s.expires_at, &s.user_id];
        Ok(self.exec(&sql::logouts::RENEW_SESSION, &params).await? == 1)
    }

    async fn put_interaction(&self, i: &Interaction) -> StoreResult<()> {
        self.exec(
            &sql::sessions::INSERT_INTERACTION,
            &sql::sessions::interaction_params(i)?,
        )
        .await?;
        Ok(())
    }

    async fn find_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        self.read_opt(&sql::sessions::FIND_INTERACTION, &values![id, now], decode::interaction)
            .await
    }

    async fn set_interaction_csrf(&self, id: &str, csrf_hash: &TokenHash) -> StoreResult<bool> {
        Ok(self.exec(&sql::sessions::SET_CSRF, &values![id, csrf_hash]).await? == 1)
    }

    async fn set_interaction_login(&self, id: &str, login: &InteractionLogin) -> StoreResult<bool> {
        let login = crate::codec::to_json(login)?;
        Ok(self.exec(&sql::sessions::SET_LOGIN, &values![id, login]).await? == 1)
    }

    async fn take_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        self.opt(&sql::sessions::TAKE_INTERACTION, &values![id, now], decode::interaction)
            .await
    }
}

#[async_trait]
impl Lockouts for PgStore {
    async fn login_lock(&self, username: &str, now: UnixTime) -> StoreResult<Option<UnixTime>> {
        let c = self.client().await?;
        ops::login_lock(&Pg(&c), username, now).await
    }

    async fn reserve_login_attempt(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<LoginAttempt> {
        let c = self.client().await?;
        ops::reserve_login_attempt(&Pg(&c), username, now, window_seconds, threshold).await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<Option<UnixTime>> {
        let c = self.client().await?;
        ops::record_login_failure(&Pg(&c), username, now, window_seconds, threshold).await
    }

    async fn release_login_attempts(&self, username: &str, now: UnixTime) -> StoreResult<()> {
        self.exec(&sql::lockouts::RELEASE, &values![username, now]).await?;
        Ok(())
    }

    async fn clear_login_failures(&self, username: &str) -> StoreResult<()> {
        self.exec(&sql::lockouts::CLEAR, &values![username]).await?;
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.opt(&sql::PING, &[], decode::exists).await.map(|_| ())
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(PgStore::pool_status(self))
    }

    async fn clock(&self) -> StoreResult<Option<f64>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(sql::CLOCK.postgres()).await.map_err(pg_err)?;
        let row = c.query_opt(&stmt, &[]).await.map_err(pg_err)?;
        Ok(row.map(|r| r.try_get::<_, f64>(0)).transpose().map_err(pg_err)?)
    }
}

#[async_trait]
impl Logouts for PgStore {
    async fn end_sessions(
        &self,
        end: SessionEnd<'_>,
        by: &str,
        now: UnixTime,
        due: UnixTime,
    ) -> StoreResult<EndedSessions> {
        self.revoking(in_tx!(self, |db| ops::end_sessions(db, end, by, now, due)))
    }

    async fn list_sessions(&self, user_id: Option<&str>, now: UnixTime) -> StoreResult<Vec<SessionSummary>> {
        let sessions = self
            .all(
                &sql::logouts::LIST_SESSIONS,
                &values![user_id, now],
                decode::session_summary,
            )
            .await?;
        let clients = self
            .all(
                &sql::logouts::LIST_SESSION_CLIENTS,
                &values![user_id],
                decode::session_client,
            )
            .await?;
        Ok(ops::with_clients(sessions, clients))
    }

    async fn claim_notices(&self, now: UnixTime, claim_until: UnixTime, limit: u32) -> StoreResult<Vec<LogoutNotice>> {
        self.all(&sql::logouts::CLAIM, &values![now, claim_until, limit], decode::notice)
            .await
    }

    async fn settle_notice(&self, id: &str, outcome: &NoticeOutcome) -> StoreResult<()> {
        match sql::logouts::settle_params(id, outcome) {
            None => self.exec(&sql::logouts::DELIVERED, &values![id]).await?,
            Some(params) => self.exec(&sql::logouts::SETTLE, &params).await?,
        };
        Ok(())
    }

    async fn list_notices(&self) -> StoreResult<Vec<LogoutNotice>> {
        self.all(&sql::logouts::LIST_NOTICES, &[], decode::notice).await
    }
}
