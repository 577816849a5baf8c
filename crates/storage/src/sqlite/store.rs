//! The store traits on SQLite (codes, tokens and keys are in `tokens.rs`): reads on a pooled
//! read-only connection in the calling task, writes as jobs on the store thread, multi-statement
//! operations from [`crate::ops`] in one IMMEDIATE transaction there.

use super::{SqliteStore, all, exec, opt, ready};
use crate::decode;
use crate::model::*;
use crate::ops::{self, conflict};
use crate::sql::{self, values};
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::types::{ClientId, ScopeSet, TokenHash, UnixTime};

#[async_trait]
impl Clients for SqliteStore {
    async fn create_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let c = client.clone();
        self.run(move |conn| {
            exec(conn, &sql::clients::INSERT, &sql::clients::params(&c)?)
                .map_err(|e| conflict(e, || format!("client {}", c.id)))?;
            Ok(())
        })
        .await
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        self.find_cached_client(id)
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.read_all(&sql::clients::LIST, &[], decode::client)
    }

    async fn update_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        let c = client.clone();
        self.run(move |conn| {
            Ok(exec(
                conn,
                &sql::clients::UPDATE,
                &sql::clients::params(&c)?[..sql::clients::UPDATED],
            )? == 1)
        })
        .await
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        let id = id.clone();
        self.run(move |conn| Ok(exec(conn, &sql::clients::DELETE, &values![id.as_str()])? == 1))
            .await
    }
}

#[async_trait]
impl Users for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        let u = user.clone();
        self.run(move |conn| {
            exec(conn, &sql::users::INSERT, &sql::users::params(&u))
                .map_err(|e| conflict(e, || format!("user {}", u.username)))?;
            Ok(())
        })
        .await
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.read_opt(&sql::users::FIND, &values![id], decode::user)
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.read_opt(&sql::users::FIND_BY_USERNAME, &values![username], decode::user)
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.read_all(&sql::users::LIST, &[], decode::user)
    }

    async fn update_user(&self, user: &UserRecord) -> StoreResult<bool> {
        let u = user.clone();
        self.run(move |conn| {
            let n = exec(conn, &sql::users::UPDATE, &sql::users::params(&u))
                .map_err(|e| conflict(e, || format!("user {}", u.username)))?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.run(move |tx| ready(ops::delete_user(tx, &id))).await
    }
}

#[async_trait]
impl Scopes for SqliteStore {
    async fn create_scope(&self, scope: &ScopeRecord) -> StoreResult<()> {
        let s = scope.clone();
        self.run(move |conn| {
            exec(conn, &sql::scopes::INSERT, &values![&s.name, &s.description, s.builtin])
                .map_err(|e| conflict(e, || format!("scope {}", s.name)))?;
            Ok(())
        })
        .await
    }

    async fn list_scopes(&self) -> StoreResult<Vec<ScopeRecord>> {
        self.read_all(&sql::scopes::LIST, &[], decode::scope)
    }

    async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.run(move |conn| Ok(exec(conn, &sql::scopes::DELETE, &values![&name])? == 1))
            .await
    }
}

#[async_trait]
impl Consents for SqliteStore {
    async fn find_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<Option<ScopeSet>> {
        let params = values![user_id, client_id.as_str()];
        self.read_opt(&sql::consents::FIND, &params, decode::scope_set)
    }

    async fn list_consents(&self) -> StoreResult<Vec<(String, ClientId, ScopeSet, UnixTime)>> {
        self.read_all(&sql::consents::LIST, &[], decode::consent)
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()> {
        let (u, c, s) = (user_id.to_owned(), client_id.clone(), scope.clone());
        self.run(move |tx| ready(ops::grant_consent(tx, &u, &c, &s, now))).await
    }
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn put_session(&self, session: &BrowserSession) -> StoreResult<()> {
        let s = session.clone();
        self.run(move |conn| exec(conn, &sql::sessions::INSERT_SESSION, &sql::sessions::session_params(&s)))
            .await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<BrowserSession>> {
        self.read_opt(&sql::sessions::FIND_SESSION, &values![token_hash, now], decode::session)
    }

    async fn delete_session(&self, token_hash: &TokenHash) -> StoreResult<()> {
        let h = *token_hash;
        self.run(move |conn| exec(conn, &sql::sessions::DELETE_SESSION, &values![&h]))
            .await?;
        Ok(())
    }

    async fn renew_session(&self, old: &TokenHash, renewed: &BrowserSession) -> StoreResult<bool> {
        let (old, s) = (*old, renewed.clone());
        self.run(move |conn| {
            let params = values![&old, &s.token_hash, s.auth_time, s.expires_at, &s.user_id];
            Ok(exec(conn, &sql::logouts::RENEW_SESSION, &params)? == 1)
        })
        .await
    }

    async fn put_interaction(&self, interaction: &Interaction) -> StoreResult<()> {
        let i = interaction.clone();
        self.run(move |conn| {
            exec(
                conn,
                &sql::sessions::INSERT_INTERACTION,
                &sql::sessions::interaction_params(&i)?,
            )
        })
        .await?;
        Ok(())
    }

    async fn find_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        self.read_opt(&sql::sessions::FIND_INTERACTION, &values![id, now], decode::interaction)
    }

    async fn set_interaction_csrf(&self, id: &str, csrf_hash: &TokenHash) -> StoreResult<bool> {
        let (id, h) = (id.to_owned(), *csrf_hash);
        self.run(move |conn| Ok(exec(conn, &sql::sessions::SET_CSRF, &values![&id, &h])? == 1))
            .await
    }

    async fn set_interaction_login(&self, id: &str, login: &InteractionLogin) -> StoreResult<bool> {
        let (id, login) = (id.to_owned(), crate::codec::to_json(login)?);
        self.run(move |conn| Ok(exec(conn, &sql::sessions::SET_LOGIN, &values![&id, &login])? == 1))
            .await
    }

    async fn take_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        let id = id.to_owned();
        self.run(move |conn| {
            opt(
                conn,
                &sql::sessions::TAKE_INTERACTION,
                &values![&id, now],
                decode::interaction,
            )
        })
        .await
    }
}

#[async_trait]
impl Lockouts for SqliteStore {
    async fn login_lock(&self, username: &str, now: UnixTime) -> StoreResult<Option<UnixTime>> {
        self.read(|conn| ready(ops::login_lock(conn, username, now)))
    }

    async fn reserve_login_attempt(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<LoginAttempt> {
        let u = username.to_owned();
        self.run(move |conn| ready(ops::reserve_login_attempt(conn, &u, now, window_seconds, threshold)))
            .await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<Option<UnixTime>> {
        let u = username.to_owned();
        self.run(move |conn| ready(ops::record_login_failure(conn, &u, now, window_seconds, threshold)))
            .await
    }

    async fn release_login_attempts(&self, username: &str, now: UnixTime) -> StoreResult<()> {
        let u = username.to_owned();
        self.run(move |conn| exec(conn, &sql::lockouts::RELEASE, &values![&u, now]))
            .await?;
        Ok(())
    }

    async fn clear_login_failures(&self, username: &str) -> StoreResult<()> {
        let u = username.to_owned();
        self.run(move |conn| exec(conn, &sql::lockouts::CLEAR, &values![&u]))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        // A read: health checks must never queue behind (or delay) writes.
        self.read_opt(&sql::PING, &[], decode::exists).map(|_| ())
    }
}

#[async_trait]
impl Logouts for SqliteStore {
    async fn end_sessions(
        &self,
        end: SessionEnd<'_>,
        by: &str,
        now: UnixTime,
        due: UnixTime,
    ) -> StoreResult<EndedSessions> {
        let by = by.to_owned();
        let key = match end {
            SessionEnd::Cookie(h) => Key::Cookie(*h),
            SessionEnd::Sid(s) => Key::Sid(s.to_owned()),
            SessionEnd::User(u) => Key::User(u.to_owned()),
        };
        self.run(move |tx| {
            let end = match &key {
                Key::Cookie(h) => SessionEnd::Cookie(h),
                Key::Sid(s) => SessionEnd::Sid(s),
                Key::User(u) => SessionEnd::User(u),
            };
            ready(ops::end_sessions(tx, end, &by, now, due))
        })
        .await
    }

    async fn list_sessions(&self, user_id: Option<&str>, now: UnixTime) -> StoreResult<Vec<SessionSummary>> {
        let sessions = self.read_all(
            &sql::logouts::LIST_SESSIONS,
            &values![user_id, now],
            decode::session_summary,
        )?;
        let clients = self.read_all(
            &sql::logouts::LIST_SESSION_CLIENTS,
            &values![user_id],
            decode::session_client,
        )?;
        Ok(ops::with_clients(sessions, clients))
    }

    async fn claim_notices(&self, now: UnixTime, claim_until: UnixTime, limit: u32) -> StoreResult<Vec<LogoutNotice>> {
        self.run(move |conn| {
            all(
                conn,
                &sql::logouts::CLAIM,
                &values![now, claim_until, limit],
                decode::notice,
            )
        })
        .await
    }

    async fn settle_notice(&self, id: &str, outcome: &NoticeOutcome) -> StoreResult<()> {
        let (id, outcome) = (id.to_owned(), outcome.clone());
        self.run(move |conn| {
            match sql::logouts::settle_params(&id, &outcome) {
                None => exec(conn, &sql::logouts::DELIVERED, &values![&id])?,
                Some(params) => exec(conn, &sql::logouts::SETTLE, &params)?,
            };
            Ok(())
        })
        .await
    }

    async fn list_notices(&self) -> StoreResult<Vec<LogoutNotice>> {
        self.read_all(&sql::logouts::LIST_NOTICES, &[], decode::notice)
    }
}

/// An owned [`SessionEnd`], to move onto the store thread.
enum Key {
    Cookie(TokenHash),
    Sid(String),
    User(String),
}
