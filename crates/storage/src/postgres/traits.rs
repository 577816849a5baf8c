//! The store traits on PostgreSQL. Same contracts as the embedded store, checked by the same suite.

use super::rows::{self, *};
use super::{PgStore, pg_err};
use crate::codec::{parse_scope, to_json};
use crate::error::StoreError;
use crate::model::*;
use crate::traits::*;
use async_trait::async_trait;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::types::{ClientId, RedirectUri, ScopeSet, TokenHash, UnixTime};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgStore {
    async fn exec(&self, sql: &str, params: Params<'_>) -> StoreResult<u64> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(sql).await.map_err(pg_err)?;
        c.execute(&stmt, params).await.map_err(pg_err)
    }

    async fn opt(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(sql).await.map_err(pg_err)?;
        c.query_opt(&stmt, params).await.map_err(pg_err)
    }

    /// A point read on the shared read connection: concurrent reads are pipelined on it (one
    /// write of many queries, one backend answering them in a row) instead of each waking a
    /// backend of its own. Only reads that cannot wait on a lock go here.
    async fn read_opt(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        let c = self.shared_reader().await?;
        let stmt = c.prepare_cached(sql).await.map_err(pg_err)?;
        c.query_opt(&stmt, params).await.map_err(pg_err)
    }

    async fn all(&self, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(sql).await.map_err(pg_err)?;
        c.query(&stmt, params).await.map_err(pg_err)
    }
}

fn conflict(e: StoreError, what: String) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}

fn client_json(c: &ClientRecord) -> StoreResult<(String, String, String)> {
    let uris: Vec<&str> = c.redirect_uris.iter().map(RedirectUri::as_str).collect();
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    Ok((to_json(&uris)?, to_json(&grants)?, to_json(&c.resources)?))
}

#[async_trait]
impl Clients for PgStore {
    async fn create_client(&self, c: &ClientRecord) -> StoreResult<()> {
        let (uris, grants, resources) = client_json(c)?;
        let secret = c.secret_hash.map(|h| h.as_bytes().to_vec());
        self.exec(
            "INSERT INTO clients (id, name, secret_hash, auth_method, redirect_uris, grant_types, scopes, id_token_alg, created_at, access_token_format, resources, introspect)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[&c.id.as_str(), &c.name, &secret, &c.auth_method.as_str(), &uris, &grants, &c.scopes.to_param(), &c.id_token_alg.as_str(), &c.created_at.0, &c.access_token_format.as_str(), &resources, &c.introspect],
        )
        .await
        .map_err(|e| conflict(e, format!("client {}", c.id)))?;
        Ok(())
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        if let Some(hit) = self.clients.get(id.as_str()) {
            return Ok(Some(hit));
        }
        let seen = self.clients.generation();
        let found = self
            .read_opt(
                &format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1"),
                &[&id.as_str()],
            )
            .await?
            .as_ref()
            .map(rows::client)
            .transpose()?;
        if let Some(c) = &found {
            self.clients.put(seen, c);
        }
        Ok(found)
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.all(&format!("SELECT {CLIENT_COLS} FROM clients ORDER BY id"), &[])
            .await?
            .iter()
            .map(rows::client)
            .collect()
    }

    async fn update_client(&self, c: &ClientRecord) -> StoreResult<bool> {
        let (uris, grants, resources) = client_json(c)?;
        let secret = c.secret_hash.map(|h| h.as_bytes().to_vec());
        let n = self
            .exec(
                "UPDATE clients SET name = $2, secret_hash = $3, auth_method = $4, redirect_uris = $5,
                 grant_types = $6, scopes = $7, id_token_alg = $8, created_at = $9, access_token_format = $10, resources = $11, introspect = $12
                 WHERE id = $1",
                &[
                    &c.id.as_str(),
                    &c.name,
                    &secret,
                    &c.auth_method.as_str(),
                    &uris,
                    &grants,
                    &c.scopes.to_param(),
                    &c.id_token_alg.as_str(),
                    &c.created_at.0,
                    &c.access_token_format.as_str(),
                    &resources,
                    &c.introspect,
                ],
            )
            .await?;
        // The notification would do this too; doing it here makes the change visible at once.
        self.clients.invalidate(c.id.as_str());
        Ok(n == 1)
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        // ON DELETE CASCADE removes its codes, tokens and consents in the same statement.
        let n = self.exec("DELETE FROM clients WHERE id = $1", &[&id.as_str()]).await?;
        self.clients.invalidate(id.as_str());
        Ok(n == 1)
    }
}

#[async_trait]
impl Users for PgStore {
    async fn create_user(&self, u: &UserRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO users (id, username, email, email_verified, name, password_hash, locked, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[&u.id, &u.username, &u.email, &u.email_verified, &u.name, &u.password_hash, &u.locked, &u.created_at.0, &u.updated_at.0],
        )
        .await
        .map_err(|e| conflict(e, format!("user {}", u.username)))?;
        Ok(())
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.read_opt(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"), &[&id])
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.read_opt(
            &format!("SELECT {USER_COLS} FROM users WHERE username = $1"),
            &[&username],
        )
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.all(&format!("SELECT {USER_COLS} FROM users ORDER BY username"), &[])
            .await?
            .iter()
            .map(rows::user)
            .collect()
    }

    async fn update_user(&self, u: &UserRecord) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE users SET username = $2, email = $3, email_verified = $4, name = $5, password_hash = $6,
                 locked = $7, created_at = $8, updated_at = $9 WHERE id = $1",
                &[
                    &u.id,
                    &u.username,
                    &u.email,
                    &u.email_verified,
                    &u.name,
                    &u.password_hash,
                    &u.locked,
                    &u.created_at.0,
                    &u.updated_at.0,
                ],
            )
            .await
            .map_err(|e| conflict(e, format!("user {}", u.username)))?;
        Ok(n == 1)
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.execute("DELETE FROM access_tokens WHERE subject = $1", &[&id])
            .await
            .map_err(pg_err)?;
        tx.execute("DELETE FROM refresh_tokens WHERE subject = $1", &[&id])
            .await
            .map_err(pg_err)?;
        let n = tx
            .execute("DELETE FROM users WHERE id = $1", &[&id])
            .await
            .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(n == 1)
    }

    async fn revoke_user_sessions(&self, id: &str, now: UnixTime) -> StoreResult<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // Grants first: a refresh rotating at this moment must not leave a live successor.
        for sql in [
            "INSERT INTO revoked_grants (grant_id, revoked_at) SELECT DISTINCT family_id, $2::BIGINT FROM refresh_tokens
             WHERE subject = $1 ON CONFLICT (grant_id) DO NOTHING",
            "INSERT INTO revoked_grants (grant_id, revoked_at) SELECT DISTINCT grant_id, $2::BIGINT FROM access_tokens
             WHERE subject = $1 AND grant_id IS NOT NULL ON CONFLICT (grant_id) DO NOTHING",
            // Codes not yet exchanged and sign-ins waiting at the consent page end too.
            "DELETE FROM codes WHERE consumed_at IS NULL AND (grant_data::json ->> 'subject') = $1 AND $2::BIGINT IS NOT NULL",
            "DELETE FROM interactions WHERE (login::json ->> 'user_id') = $1 AND $2::BIGINT IS NOT NULL",
        ] {
            tx.execute(sql, &[&id, &now.0]).await.map_err(pg_err)?;
        }
        let mut revoked = 0;
        for sql in [
            "UPDATE access_tokens SET revoked_at = $2 WHERE subject = $1 AND revoked_at IS NULL",
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE subject = $1 AND revoked_at IS NULL",
        ] {
            revoked += tx.execute(sql, &[&id, &now.0]).await.map_err(pg_err)?;
        }
        tx.execute("DELETE FROM browser_sessions WHERE user_id = $1", &[&id])
            .await
            .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(revoked)
    }
}

#[async_trait]
impl Scopes for PgStore {
    async fn create_scope(&self, s: &ScopeRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO scopes (name, description, builtin) VALUES ($1, $2, $3)",
            &[&s.name, &s.description, &s.builtin],
        )
        .await
        .map_err(|e| conflict(e, format!("scope {}", s.name)))?;
        Ok(())
    }

    async fn list_scopes(&self) -> StoreResult<Vec<ScopeRecord>> {
        self.all("SELECT name, description, builtin FROM scopes ORDER BY name", &[])
            .await?
            .iter()
            .map(|r| {
                Ok(ScopeRecord {
                    name: r.try_get(0).map_err(pg_err)?,
                    description: r.try_get(1).map_err(pg_err)?,
                    builtin: r.try_get(2).map_err(pg_err)?,
                })
            })
            .collect()
    }

    async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        Ok(self
            .exec("DELETE FROM scopes WHERE name = $1 AND NOT builtin", &[&name])
            .await?
            == 1)
    }
}

#[async_trait]
impl Consents for PgStore {
    async fn find_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<Option<ScopeSet>> {
        let row = self
            .opt(
                "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2",
                &[&user_id, &client_id.as_str()],
            )
            .await?;
        row.map(|r| parse_scope(&r.try_get::<_, String>(0).map_err(pg_err)?))
            .transpose()
    }

    async fn list_consents(&self) -> StoreResult<Vec<(String, ClientId, ScopeSet, UnixTime)>> {
        self.all(
            "SELECT user_id, client_id, scope, granted_at FROM consents ORDER BY user_id, client_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            let scope: String = r.try_get(2).map_err(pg_err)?;
            Ok((
                r.try_get(0).map_err(pg_err)?,
                ClientId::from_stored(r.try_get(1).map_err(pg_err)?),
                parse_scope(&scope)?,
                UnixTime(r.try_get(3).map_err(pg_err)?),
            ))
        })
        .collect()
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // Insert-or-lock, then merge under the row lock: concurrent grants never lose a scope.
        tx.execute(
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, '', $3) ON CONFLICT DO NOTHING",
            &[&user_id, &client_id.as_str(), &now.0],
        )
        .await
        .map_err(pg_err)?;
        let before: String = tx
            .query_one(
                "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 FOR UPDATE",
                &[&user_id, &client_id.as_str()],
            )
            .await
            .map_err(pg_err)?
            .try_get(0)
            .map_err(pg_err)?;
        let merged = parse_scope(&before)?.union(scope);
        tx.execute(
            "UPDATE consents SET scope = $3, granted_at = $4 WHERE user_id = $1 AND client_id = $2",
            &[&user_id, &client_id.as_str(), &merged.to_param(), &now.0],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)
    }
}

#[async_trait]
impl Sessions for PgStore {
    async fn put_session(&self, s: &BrowserSession) -> StoreResult<()> {
        self.exec(
            "INSERT INTO browser_sessions (token_hash, sid, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&s.token_hash.as_bytes().as_slice(), &s.sid, &s.user_id, &s.auth_time.0, &s.expires_at.0],
        )
        .await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<BrowserSession>> {
        self.read_opt(
            &format!("SELECT {SESSION_COLS} FROM browser_sessions WHERE token_hash = $1 AND expires_at > $2"),
            &[&token_hash.as_bytes().as_slice(), &now.0],
        )
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn delete_session(&self, token_hash: &TokenHash) -> StoreResult<()> {
        self.exec(
            "DELETE FROM browser_sessions WHERE token_hash = $1",
            &[&token_hash.as_bytes().as_slice()],
        )
        .await?;
        Ok(())
    }

    async fn put_interaction(&self, i: &Interaction) -> StoreResult<()> {
        let login = i.login.as_ref().map(to_json).transpose()?;
        self.exec(
            "INSERT INTO interactions (id, csrf_hash, browser_hash, request, login, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&i.id, &i.csrf_hash.as_bytes().as_slice(), &i.browser_hash.as_bytes().as_slice(), &to_json(&i.request)?, &login, &i.expires_at.0],
        )
        .await?;
        Ok(())
    }

    async fn find_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        self.read_opt(
            &format!("SELECT {INTERACTION_COLS} FROM interactions WHERE id = $1 AND expires_at > $2"),
            &[&id, &now.0],
        )
        .await?
        .as_ref()
        .map(rows::interaction)
        .transpose()
    }

    async fn set_interaction_csrf(&self, id: &str, csrf_hash: &TokenHash) -> StoreResult<bool> {
        Ok(self
            .exec(
                "UPDATE interactions SET csrf_hash = $2 WHERE id = $1",
                &[&id, &csrf_hash.as_bytes().as_slice()],
            )
            .await?
            == 1)
    }

    async fn set_interaction_login(&self, id: &str, login: &InteractionLogin) -> StoreResult<bool> {
        Ok(self
            .exec(
                "UPDATE interactions SET login = $2 WHERE id = $1",
                &[&id, &to_json(login)?],
            )
            .await?
            == 1)
    }

    async fn take_interaction(&self, id: &str, now: UnixTime) -> StoreResult<Option<Interaction>> {
        self.opt(
            &format!("DELETE FROM interactions WHERE id = $1 AND expires_at > $2 RETURNING {INTERACTION_COLS}"),
            &[&id, &now.0],
        )
        .await?
        .as_ref()
        .map(rows::interaction)
        .transpose()
    }
}

#[async_trait]
impl Codes for PgStore {
    async fn put_code(&self, hash: &TokenHash, g: &CodeGrant) -> StoreResult<()> {
        self.exec(
            "INSERT INTO codes (hash, grant_id, client_id, grant_data, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[
                &hash.as_bytes().as_slice(),
                &g.grant_id,
                &g.client_id.as_str(),
                &to_json(g)?,
                &g.expires_at.0,
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<(CodeGrant, bool)>> {
        let row = self
            .opt(
                "SELECT grant_data, consumed_at IS NOT NULL FROM codes WHERE hash = $1 AND (expires_at > $2 OR consumed_at IS NOT NULL)",
                &[&hash.as_bytes().as_slice(), &now.0],
            )
            .await?;
        row.map(|r| {
            let data: String = r.try_get(0).map_err(pg_err)?;
            Ok((crate::codec::from_json(&data)?, r.try_get(1).map_err(pg_err)?))
        })
        .transpose()
    }

    async fn take_code(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Taken> {
        let h = hash.as_bytes().as_slice();
        // One statement: exactly one caller sees the row flip from unconsumed to consumed.
        let fresh = self
            .opt(
                "UPDATE codes SET consumed_at = $2 WHERE hash = $1 AND consumed_at IS NULL AND expires_at > $2 RETURNING grant_data",
                &[&h, &now.0],
            )
            .await?;
        if let Some(r) = fresh {
            let data: String = r.try_get(0).map_err(pg_err)?;
            return Ok(Taken::Fresh(Box::new(crate::codec::from_json(&data)?)));
        }
        let replayed = self
            .opt(
                "SELECT grant_id FROM codes WHERE hash = $1 AND consumed_at IS NOT NULL",
                &[&h],
            )
            .await?;
        Ok(match replayed {
            Some(r) => Taken::Replayed {
                grant_id: r.try_get(0).map_err(pg_err)?,
            },
            None => Taken::NotFound,
        })
    }
}

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (hash, family_id, client_id, subject, scope, claims, auth_time, session_id, issued_at, expires_at, audience, family_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

fn refresh_params(t: &RefreshTokenRecord, claims: &str, scope: &str) -> [Box<dyn ToSql + Sync + Send>; 12] {
    [
        Box::new(t.hash.as_bytes().to_vec()),
        Box::new(t.family_id.clone()),
        Box::new(t.client_id.as_str().to_owned()),
        Box::new(t.subject.clone()),
        Box::new(scope.to_owned()),
        Box::new(claims.to_owned()),
        Box::new(t.auth_time.0),
        Box::new(t.session_id.clone()),
        Box::new(t.issued_at.0),
        Box::new(t.expires_at.0),
        Box::new(to_json(&t.audience).unwrap_or_else(|_| "[]".into())),
        Box::new(t.family_expires_at.0),
    ]
}

fn as_params(b: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    b.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// Remembers a revoked grant; every token read checks it, so tokens of the grant written
/// concurrently with (or after) the revocation are dead too.
const REVOKE_GRANT: &str =
    "INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ($1, $2) ON CONFLICT (grant_id) DO NOTHING";
const REVOKE_ACCESS: &str = "UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";
const REVOKE_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";

#[async_trait]
impl Tokens for PgStore {
    async fn put_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
        // On the no-flush pool: see `PgStore::fast_pool`.
        let c = self.fast_client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO access_tokens (hash, client_id, grant_id, subject, scope, claims, auth_time, issued_at, expires_at, audience, format)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(pg_err)?;
        c.execute(
            &stmt,
            &[
                &t.hash.as_bytes().as_slice(),
                &t.client_id.as_str(),
                &t.grant_id,
                &t.subject,
                &t.scope.to_param(),
                &to_json(&t.claims)?,
                &t.auth_time.map(|a| a.0),
                &t.issued_at.0,
                &t.expires_at.0,
                &to_json(&t.audience)?,
                &t.format.as_str(),
            ],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn find_access_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<AccessTokenRecord>> {
        self.read_opt(
            &format!(
                "SELECT {ACCESS_COLS} FROM access_tokens WHERE hash = $1 AND expires_at > $2 AND revoked_at IS NULL AND (grant_id IS NULL OR NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = access_tokens.grant_id))"
            ),
            &[&hash.as_bytes().as_slice(), &now.0],
        )
        .await?
        .as_ref()
        .map(rows::access_token)
        .transpose()
    }

    async fn put_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        let (claims, scope) = (to_json(&t.claims)?, t.scope.to_param());
        let params = refresh_params(t, &claims, &scope);
        self.exec(INSERT_REFRESH, &as_params(&params)).await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        hash: &TokenHash,
        successor: &RefreshTokenRecord,
        now: UnixTime,
        grace_seconds: u64,
    ) -> StoreResult<Rotation> {
        let h = hash.as_bytes().as_slice();
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // The row lock taken by UPDATE serialises concurrent rotations: a loser re-checks the
        // WHERE clause after the winner commits and finds the token rotated.
        let current = tx
            .query_opt(
                &format!(
                    "UPDATE refresh_tokens SET rotated_at = $2, rotated_to = $3
                     WHERE hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                       AND family_expires_at > $2 AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)
                     RETURNING {REFRESH_COLS}"
                ),
                &[&h, &now.0, &successor.hash.as_bytes().as_slice()],
            )
            .await
            .map_err(pg_err)?;
        if let Some(row) = current {
            let old = rows::refresh_token(&row)?;
            let mut next = successor.clone();
            next.family_id.clone_from(&old.family_id);
            next.family_expires_at = old.family_expires_at;
            let (claims, scope) = (to_json(&next.claims)?, next.scope.to_param());
            let params = refresh_params(&next, &claims, &scope);
            tx.execute(INSERT_REFRESH, &as_params(&params)).await.map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            return Ok(Rotation::Rotated(Box::new(old)));
        }
        let rotated = tx
            .query_opt(
                "SELECT family_id, client_id, rotated_at, rotated_to FROM refresh_tokens
                 WHERE hash = $1 AND rotated_at IS NOT NULL",
                &[&h],
            )
            .await
            .map_err(pg_err)?;
        let Some(row) = rotated else {
            return Ok(Rotation::NotFound);
        };
        let family_id: String = row.try_get(0).map_err(pg_err)?;
        let client_id: String = row.try_get(1).map_err(pg_err)?;
        let rotated_at: i64 = row.try_get(2).map_err(pg_err)?;
        let rotated_to: Option<Vec<u8>> = row.try_get(3).map_err(pg_err)?;
        // A retry within the grace period gets the live successor back instead of a revocation.
        if let Some(to) = rotated_to.filter(|_| grace_seconds > 0 && now.since(UnixTime(rotated_at)) < grace_seconds) {
            let live = tx
                .query_opt(
                    &format!(
                        "SELECT {REFRESH_COLS} FROM refresh_tokens WHERE hash = $1 AND rotated_at IS NULL
                         AND revoked_at IS NULL AND expires_at > $2 AND family_expires_at > $2 AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)"
                    ),
                    &[&to, &now.0],
                )
                .await
                .map_err(pg_err)?;
            if let Some(row) = live {
                return Ok(Rotation::Retried(Box::new(rows::refresh_token(&row)?)));
            }
        }
        // RFC 9700 §4.14.2: a rotated token presented again means it leaked; revoke the family.
        tx.execute(REVOKE_GRANT, &[&family_id, &now.0]).await.map_err(pg_err)?;
        tx.execute(REVOKE_ACCESS, &[&family_id, &now.0]).await.map_err(pg_err)?;
        tx.execute(REVOKE_REFRESH, &[&family_id, &now.0])
            .await
            .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(Rotation::Reused {
            family_id,
            client_id: ClientId::from_stored(client_id),
        })
    }

    async fn revoke_access_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE access_tokens SET revoked_at = $3 WHERE hash = $1 AND client_id = $2 AND revoked_at IS NULL",
                &[&hash.as_bytes().as_slice(), &client_id.as_str(), &now.0],
            )
            .await?;
        Ok(n == 1)
    }

    async fn revoke_refresh_token(&self, hash: &TokenHash, client_id: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let family = tx
            .query_opt(
                "SELECT family_id FROM refresh_tokens WHERE hash = $1 AND client_id = $2",
                &[&hash.as_bytes().as_slice(), &client_id.as_str()],
            )
            .await
            .map_err(pg_err)?;
        let Some(row) = family else { return Ok(false) };
        let family: String = row.try_get(0).map_err(pg_err)?;
        tx.execute(REVOKE_GRANT, &[&family, &now.0]).await.map_err(pg_err)?;
        let a = tx.execute(REVOKE_ACCESS, &[&family, &now.0]).await.map_err(pg_err)?;
        let r = tx.execute(REVOKE_REFRESH, &[&family, &now.0]).await.map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(a + r > 0)
    }

    async fn cleanup(&self, now: UnixTime, revoked_before: UnixTime, batch: u32) -> StoreResult<CleanupReport> {
        let mut report = CleanupReport::default();
        let limit = i64::from(batch);
        // One short statement per batch, so cleanup never holds locks for long.
        let jobs: [(&str, &str, &str); 7] = [
            (
                "codes",
                "hash",
                "(consumed_at IS NULL AND expires_at <= $1) OR consumed_at <= $2",
            ),
            ("access_tokens", "hash", "expires_at <= $1 OR revoked_at <= $2"),
            (
                "refresh_tokens",
                "hash",
                "expires_at <= $1 OR family_expires_at <= $1 OR revoked_at <= $2",
            ),
            ("browser_sessions", "token_hash", "expires_at <= $1"),
            ("interactions", "id", "expires_at <= $1"),
            (
                "login_failures",
                "username",
                "window_start <= $2 AND (locked_until IS NULL OR locked_until <= $1)",
            ),
            // Kept while any token of the grant could still be read as live.
            (
                "revoked_grants",
                "grant_id",
                "$1::BIGINT IS NOT NULL AND revoked_at <= $2 AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = revoked_grants.grant_id AND a.revoked_at IS NULL) AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = revoked_grants.grant_id AND r.revoked_at IS NULL)",
            ),
        ];
        for (i, (table, key, condition)) in jobs.into_iter().enumerate() {
            // `$2` appears in every statement so that all take the same three parameters.
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN
                 (SELECT {key} FROM {table} WHERE $2::BIGINT IS NOT NULL AND ({condition}) LIMIT $3)"
            );
            loop {
                let n = self.exec(&sql, &[&now.0, &revoked_before.0, &limit]).await?;
                match i {
                    0 => report.codes += n,
                    1 => report.access_tokens += n,
                    2 => report.refresh_tokens += n,
                    3 => report.sessions += n,
                    4 => report.interactions += n,
                    5 => report.login_failures += n,
                    _ => report.revoked_grants += n,
                }
                if n < u64::from(batch) {
                    break;
                }
            }
        }
        Ok(report)
    }

    async fn find_refresh_token(&self, hash: &TokenHash, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>> {
        self.read_opt(
            &format!(
                "SELECT {REFRESH_COLS} FROM refresh_tokens
                 WHERE hash = $1 AND expires_at > $2 AND family_expires_at > $2 AND revoked_at IS NULL AND rotated_at IS NULL AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id)"
            ),
            &[&hash.as_bytes().as_slice(), &now.0],
        )
        .await?
        .as_ref()
        .map(rows::refresh_token)
        .transpose()
    }

    async fn list_refresh_tokens(&self, now: UnixTime) -> StoreResult<Vec<RefreshTokenRecord>> {
        self.all(
            &format!(
                "SELECT {REFRESH_COLS} FROM refresh_tokens
                 WHERE expires_at > $1 AND family_expires_at > $1 AND revoked_at IS NULL AND rotated_at IS NULL AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.grant_id = refresh_tokens.family_id) ORDER BY issued_at"
            ),
            &[&now.0],
        )
        .await?
        .iter()
        .map(rows::refresh_token)
        .collect()
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> StoreResult<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.execute(REVOKE_GRANT, &[&grant_id, &now.0]).await.map_err(pg_err)?;
        let a = tx.execute(REVOKE_ACCESS, &[&grant_id, &now.0]).await.map_err(pg_err)?;
        let r = tx.execute(REVOKE_REFRESH, &[&grant_id, &now.0]).await.map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(a + r)
    }
}

const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at, retires_at) VALUES ($1, $2, $3, $4, $5, $6)";

#[async_trait]
impl Keys for PgStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.all(
            "SELECT kid, alg, private_der, created_at, activates_at, retires_at FROM signing_keys ORDER BY created_at, kid",
            &[],
        )
        .await?
        .iter()
        .map(rows::key)
        .collect()
    }

    async fn replace_key_material(&self, kid: &str, private_der: &[u8]) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE signing_keys SET private_der = $2 WHERE kid = $1",
                &[&kid, &private_der],
            )
            .await?;
        Ok(n == 1)
    }

    async fn replace_server_secret(&self, name: &str, value: &[u8]) -> StoreResult<bool> {
        let n = self
            .exec("UPDATE server_secrets SET value = $2 WHERE name = $1", &[&name, &value])
            .await?;
        Ok(n == 1)
    }

    async fn retire_key(&self, kid: &str, at: UnixTime) -> StoreResult<bool> {
        self.exec(
            "UPDATE signing_keys SET retires_at = $2 WHERE kid = $1 AND (retires_at IS NULL OR retires_at > $2)",
            &[&kid, &at.0],
        )
        .await?;
        Ok(self
            .opt("SELECT 1 FROM signing_keys WHERE kid = $1", &[&kid])
            .await?
            .is_some())
    }

    async fn server_secret(&self, name: &str, candidate: &[u8], now: UnixTime) -> StoreResult<Vec<u8>> {
        self.exec(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            &[&name, &candidate, &now.0],
        )
        .await?;
        let row = self
            .opt("SELECT value FROM server_secrets WHERE name = $1", &[&name])
            .await?;
        row.ok_or_else(|| StoreError::Internal("server secret vanished".into()))?
            .try_get(0)
            .map_err(pg_err)
    }

    async fn put_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        self.exec(
            INSERT_KEY,
            &[
                &k.kid,
                &k.alg.as_str(),
                &k.private_der,
                &k.created_at.0,
                &k.activates_at.0,
                &k.retires_at.map(|t| t.0),
            ],
        )
        .await
        .map_err(|e| conflict(e, format!("key {}", k.kid)))?;
        Ok(())
    }

    async fn rotate_key(
        &self,
        k: &SigningKeyRecord,
        expected_newest: Option<&str>,
        retire_previous_at: UnixTime,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // Serialise rotations, so instances rotating on a timer add one key, not one each.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&0x6761_7465_6b65_7973_i64])
            .await
            .map_err(pg_err)?;
        let newest = tx
            .query_opt(
                "SELECT kid FROM signing_keys WHERE alg = $1 ORDER BY created_at DESC, kid DESC LIMIT 1",
                &[&k.alg.as_str()],
            )
            .await
            .map_err(pg_err)?
            .map(|r| r.try_get::<_, String>(0))
            .transpose()
            .map_err(pg_err)?;
        if expected_newest.is_some() && newest.as_deref() != expected_newest {
            return Ok(false);
        }
        tx.execute(
            "UPDATE signing_keys SET retires_at = $2 WHERE alg = $1 AND (retires_at IS NULL OR retires_at > $2)",
            &[&k.alg.as_str(), &retire_previous_at.0],
        )
        .await
        .map_err(pg_err)?;
        tx.execute(
            INSERT_KEY,
            &[
                &k.kid,
                &k.alg.as_str(),
                &k.private_der,
                &k.created_at.0,
                &k.activates_at.0,
                &k.retires_at.map(|t| t.0),
            ],
        )
        .await
        .map_err(|e| conflict(pg_err(e), format!("key {}", k.kid)))?;
        tx.commit().await.map_err(pg_err)?;
        Ok(true)
    }
}

#[async_trait]
impl Lockouts for PgStore {
    async fn login_lock(&self, username: &str, now: UnixTime) -> StoreResult<Option<UnixTime>> {
        let row = self
            .opt(
                "SELECT locked_until FROM login_failures WHERE username = $1",
                &[&username],
            )
            .await?;
        let until: Option<i64> = match row {
            Some(r) => r.try_get(0).map_err(pg_err)?,
            None => None,
        };
        Ok(until.filter(|t| *t > now.0).map(UnixTime))
    }

    async fn reserve_login_attempt(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<LoginAttempt> {
        let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
        let threshold = i32::try_from(threshold).unwrap_or(i32::MAX);
        let token = crate::model::attempt_token();
        // One statement (see the trait): the row lock of ON CONFLICT serialises concurrent attempts.
        let row = self
            .opt(
                "INSERT INTO login_failures (username, failures, window_start, locked_until, pending, last_attempt)
                 VALUES ($1, 0, $2::BIGINT, NULL, 1, $5)
                 ON CONFLICT (username) DO UPDATE SET
                   failures = CASE
                     WHEN login_failures.locked_until > $2::BIGINT THEN login_failures.failures
                     WHEN login_failures.window_start + $3::BIGINT <= $2::BIGINT THEN 0
                     ELSE login_failures.failures END,
                   pending = CASE
                     WHEN login_failures.locked_until > $2::BIGINT THEN login_failures.pending
                     WHEN login_failures.window_start + $3::BIGINT <= $2::BIGINT THEN 1
                     WHEN login_failures.failures + login_failures.pending >= $4::INT THEN login_failures.pending
                     ELSE login_failures.pending + 1 END,
                   last_attempt = CASE
                     WHEN login_failures.locked_until > $2::BIGINT THEN login_failures.last_attempt
                     WHEN login_failures.window_start + $3::BIGINT <= $2::BIGINT THEN $5
                     WHEN login_failures.failures + login_failures.pending >= $4::INT THEN login_failures.last_attempt
                     ELSE $5 END,
                   window_start = CASE
                     WHEN login_failures.locked_until > $2::BIGINT THEN login_failures.window_start
                     WHEN login_failures.window_start + $3::BIGINT <= $2::BIGINT THEN $2::BIGINT
                     ELSE login_failures.window_start END,
                   locked_until = CASE
                     WHEN login_failures.locked_until > $2::BIGINT THEN login_failures.locked_until
                     ELSE NULL END
                 RETURNING last_attempt, locked_until",
                &[&username, &now.0, &window, &threshold, &token],
            )
            .await?
            .ok_or_else(|| StoreError::Internal("login attempt reservation returned no row".into()))?;
        let granted: Option<String> = row.try_get(0).map_err(pg_err)?;
        let until: Option<i64> = row.try_get(1).map_err(pg_err)?;
        Ok(crate::model::attempt_outcome(
            granted.as_deref() == Some(token.as_str()),
            until,
            now,
        ))
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: UnixTime,
        window_seconds: u64,
        threshold: u32,
    ) -> StoreResult<Option<UnixTime>> {
        let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
        let threshold = i32::try_from(threshold).unwrap_or(i32::MAX);
        let row = self
            .opt(
                "INSERT INTO login_failures (username, failures, window_start, locked_until, pending)
                 VALUES ($1, 1, $2::BIGINT, CASE WHEN $4::INT <= 1 THEN $2::BIGINT + $3::BIGINT END, 0)
                 ON CONFLICT (username) DO UPDATE SET
                   pending = CASE WHEN login_failures.pending > 0 THEN login_failures.pending - 1 ELSE 0 END,
                   failures = login_failures.failures + 1,
                   locked_until = CASE
                     WHEN login_failures.locked_until > $2::BIGINT THEN login_failures.locked_until
                     WHEN login_failures.failures + 1 >= $4::INT THEN $2::BIGINT + $3::BIGINT
                     ELSE login_failures.locked_until END
                 RETURNING locked_until",
                &[&username, &now.0, &window, &threshold],
            )
            .await?;
        let until: Option<i64> = match row {
            Some(r) => r.try_get(0).map_err(pg_err)?,
            None => None,
        };
        Ok(until.filter(|t| *t > now.0).map(UnixTime))
    }

    async fn release_login_attempts(&self, username: &str, now: UnixTime) -> StoreResult<()> {
        self.exec(
            "UPDATE login_failures SET
                   pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END,
                   failures = CASE WHEN locked_until > $2::BIGINT THEN failures ELSE 0 END
                 WHERE username = $1",
            &[&username, &now.0],
        )
        .await?;
        Ok(())
    }

    async fn clear_login_failures(&self, username: &str) -> StoreResult<()> {
        self.exec("DELETE FROM login_failures WHERE username = $1", &[&username])
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.opt("SELECT 1", &[]).await.map(|_| ())
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        let (size, in_use, idle, max) = PgStore::pool_status(self);
        Some(PoolStatus {
            size,
            in_use,
            idle,
            max,
        })
    }

    async fn clock(&self) -> StoreResult<Option<f64>> {
        let row = self
            .opt("SELECT extract(epoch FROM clock_timestamp())::float8", &[])
            .await?;
        Ok(row.map(|r| r.try_get::<_, f64>(0)).transpose().map_err(pg_err)?)
    }
}
