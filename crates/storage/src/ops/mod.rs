//! The store operations that take more than one statement, written once for both backends.
//!
//! They are `async fn`s over [`Db`], a connection or transaction that runs one statement at a
//! time. PostgreSQL's [`Db`] awaits the server. SQLite's never awaits anything: its operations run
//! on the store thread, inside the job that owns the connection, and are polled to completion
//! there once (`sqlite::ready`, with a no-op waker). That keeps one copy of each piece of logic
//! (refresh rotation with reuse detection and grace, family revocation, key rotation, consent
//! merging, the cleanup loop) without making SQLite pay for a runtime hand-off per statement.
//!
//! The backend decides what runs in a transaction (its `Db` is then the transaction) and adds what
//! only it needs (PostgreSQL's advisory lock before a key rotation). Operations whose early return
//! leaves nothing written (an unknown token, a rotation that lost its race) still commit: the
//! transaction changed nothing.

use crate::decode::{self, Cols, Decode};
use crate::error::StoreError;
use crate::model::*;
use crate::sql::{self, CLEANUP, CleanupJob, Sql, Value, values};
use crate::traits::StoreResult;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};
use std::future::Future;

mod clients;
pub(crate) use clients::*;

/// One connection or transaction of either backend.
pub(crate) trait Db {
    /// Runs a statement; the rows it changed.
    fn exec(&self, sql: &'static Sql, params: &[Value<'_>]) -> impl Future<Output = StoreResult<u64>>;
    /// The first row of a query, decoded.
    fn opt<T>(
        &self,
        sql: &'static Sql,
        params: &[Value<'_>],
        decode: Decode<T>,
    ) -> impl Future<Output = StoreResult<Option<T>>>;
    /// Every row of a query, decoded.
    fn all<T>(
        &self,
        sql: &'static Sql,
        params: &[Value<'_>],
        decode: Decode<T>,
    ) -> impl Future<Output = StoreResult<Vec<T>>>;
}

/// A unique-key failure named for the caller (`Conflict("client x")`); other errors unchanged.
pub(crate) fn conflict(e: StoreError, what: impl FnOnce() -> String) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict(what()),
        other => other,
    }
}

/// Consumes a code: exactly one caller gets it fresh; later ones learn its grant.
pub(crate) async fn take_code(db: &impl Db, hash: &TokenHash, now: UnixTime) -> StoreResult<Taken> {
    if let Some(data) = db.opt(&sql::codes::TAKE, &values![hash, now], decode::text).await? {
        return Ok(Taken::Fresh(Box::new(crate::codec::from_json(&data)?)));
    }
    let replayed = db.opt(&sql::codes::CONSUMED, &values![hash], decode::text).await?;
    Ok(replayed.map_or(Taken::NotFound, |grant_id| Taken::Replayed { grant_id }))
}

/// Revokes a grant: its tokens now, and (through the `revoked_grants` record every token read
/// checks) any token of it written concurrently or later. Returns the tokens revoked.
pub(crate) async fn revoke_grant(db: &impl Db, grant_id: &str, now: UnixTime) -> StoreResult<u64> {
    let params = values![grant_id, now];
    db.exec(&sql::tokens::REVOKE_GRANT, &params).await?;
    let mut revoked = 0;
    for statement in &sql::tokens::REVOKE_GRANT_TOKENS {
        revoked += db.exec(statement, &params).await?;
    }
    Ok(revoked)
}

/// Revokes the family of a refresh token of `client_id`, rotated or not. Run in a transaction.
pub(crate) async fn revoke_refresh_token(
    db: &impl Db,
    hash: &TokenHash,
    client_id: &ClientId,
    now: UnixTime,
) -> StoreResult<bool> {
    let family = db
        .opt(&sql::tokens::FAMILY, &values![hash, client_id.as_str()], decode::text)
        .await?;
    match family {
        Some(family) => Ok(revoke_grant(db, &family, now).await? > 0),
        None => Ok(false),
    }
}

/// The rotated token's family, client, rotation time and successor.
fn rotated(r: &dyn Cols) -> StoreResult<(String, String, i64, Option<Vec<u8>>)> {
    Ok((r.text(0)?, r.text(1)?, r.int(2)?, r.opt_bytes(3)?))
}

/// Refresh rotation ([`crate::Tokens::rotate_refresh_token`]). Run in a transaction.
pub(crate) async fn rotate_refresh_token(
    db: &impl Db,
    hash: &TokenHash,
    next: &Successor,
    now: UnixTime,
    grace_seconds: u64,
) -> StoreResult<Rotation> {
    db.opt(&sql::tokens::LOCK_REFRESH, &values![hash], decode::exists)
        .await?;
    let current = db
        .opt(
            &sql::tokens::ROTATE,
            &values![hash, now, &next.hash],
            decode::refresh_token,
        )
        .await?;
    if let Some(old) = current {
        // The successor continues the grant: everything but its value and lifetime is copied.
        let successor = RefreshTokenRecord {
            hash: next.hash,
            issued_at: now,
            expires_at: next.expires_at,
            dpop_jkt: old.dpop_jkt.clone().or_else(|| next.binding()),
            ..old.clone()
        };
        db.exec(&sql::tokens::INSERT_REFRESH, &sql::tokens::refresh_params(&successor)?)
            .await?;
        if let Some(access) = &next.access_token {
            db.exec(&sql::tokens::INSERT_ACCESS, &sql::tokens::access_params(access)?)
                .await?;
        }
        return Ok(Rotation::Rotated(Box::new(old)));
    }
    let Some((family_id, client_id, rotated_at, rotated_to)) =
        db.opt(&sql::tokens::ROTATED, &values![hash], rotated).await?
    else {
        return Ok(Rotation::NotFound);
    };
    // A retry within the grace period gets the live successor back instead of a revocation.
    if let Some(to) = rotated_to.filter(|_| grace_seconds > 0 && now.since(UnixTime(rotated_at)) < grace_seconds) {
        let live = db
            .opt(&sql::tokens::FIND_REFRESH, &values![&to, now], decode::refresh_token)
            .await?;
        if let Some(successor) = live {
            return Ok(Rotation::Retried(Box::new(successor)));
        }
    }
    // RFC 9700 §4.14.2: a rotated token presented again means it leaked; revoke the family.
    revoke_grant(db, &family_id, now).await?;
    Ok(Rotation::Reused {
        family_id,
        client_id: ClientId::from_stored(client_id),
    })
}

/// Deletes a user and their tokens. Run in a transaction.
pub(crate) async fn delete_user(db: &impl Db, id: &str) -> StoreResult<bool> {
    let mut deleted = 0;
    for statement in &sql::users::DELETE {
        deleted = db.exec(statement, &values![id]).await?;
    }
    Ok(deleted == 1)
}

/// Ends everything a user holds: every session and every token. Run in a transaction.
async fn revoke_user_sessions(db: &impl Db, id: &str, now: UnixTime) -> StoreResult<u64> {
    let params = values![id, now];
    for statement in &sql::users::END_GRANTS {
        db.exec(statement, &params).await?;
    }
    let at_ms = system_ms();
    db.exec(&sql::users::REVOKE_SUBJECT, &values![id, at_ms]).await?;
    let mut revoked = 0;
    for statement in &sql::users::REVOKE_TOKENS {
        revoked += db.exec(statement, &params).await?;
    }
    db.exec(&sql::users::DELETE_SESSIONS, &values![id]).await?;
    Ok(revoked)
}

/// The system clock in milliseconds. The one clock storage reads: a JWT access token's `jti`
/// records its issue on the system clock in milliseconds (`ordered_token`), and a user's tokens
/// ending must be placed on the same clock, finer than the seconds `now` has (a token issued in
/// the same second after the end is live).
fn system_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Stores a code and records that its client received a code in the browser session, so the
/// client hears of the session's end.
pub(crate) async fn put_code(db: &impl Db, hash: &TokenHash, grant: &CodeGrant, now: UnixTime) -> StoreResult<()> {
    db.exec(&sql::codes::INSERT, &sql::codes::params(hash, grant)?).await?;
    if let Some(sid) = &grant.session_id {
        let params = values![sid, grant.client_id.as_str(), &grant.subject, now];
        db.exec(&sql::logouts::RECORD_CLIENT, &params).await?;
    }
    Ok(())
}

/// Ends live browser sessions ([`crate::Logouts::end_sessions`]). Run in a transaction.
pub(crate) async fn end_sessions(
    db: &impl Db,
    end: SessionEnd<'_>,
    initiator: &str,
    now: UnixTime,
    claim_until: UnixTime,
) -> StoreResult<EndedSessions> {
    let sessions = match end {
        SessionEnd::Cookie(hash) => {
            db.all(
                &sql::logouts::SESSIONS_BY_COOKIE,
                &values![hash, now],
                decode::sid_and_user,
            )
            .await?
        }
        SessionEnd::Sid(sid) => {
            db.all(&sql::logouts::SESSIONS_BY_SID, &values![sid, now], decode::sid_and_user)
                .await?
        }
        SessionEnd::User(id) => {
            db.all(&sql::logouts::SESSIONS_BY_USER, &values![id, now], decode::sid_and_user)
                .await?
        }
    };
    let mut ended = EndedSessions::default();
    for (sid, _) in &sessions {
        let queued = db
            .all(
                &sql::logouts::QUEUE,
                &values![sid, initiator, now, claim_until],
                decode::notice,
            )
            .await?;
        ended.notices.extend(queued);
        db.exec(&sql::logouts::FORGET_CLIENTS, &values![sid]).await?;
        if !matches!(end, SessionEnd::User(_)) {
            for family in db
                .all(&sql::logouts::ONLINE_FAMILIES, &values![sid], decode::text)
                .await?
            {
                ended.tokens_revoked += revoke_grant(db, &family, now).await?;
            }
            db.exec(&sql::logouts::DELETE_CODES, &values![sid]).await?;
            db.exec(&sql::logouts::DELETE_SESSION, &values![sid]).await?;
        }
    }
    if let SessionEnd::User(id) = end {
        // Everything the user holds ends, offline tokens too: the account is locked, its
        // password changed, or the operator said so.
        ended.tokens_revoked = revoke_user_sessions(db, id, now).await?;
    }
    ended.sessions = sessions;
    Ok(ended)
}

/// A counted window, if it is not over yet.
pub(crate) fn current_window(
    found: Option<(u32, UnixTime)>,
    now: UnixTime,
    window_seconds: u64,
) -> Option<(u32, UnixTime)> {
    found.filter(|(_, start)| now.since(*start) < window_seconds)
}

/// Attaches to each session the clients recorded for it.
pub(crate) fn with_clients(
    mut sessions: Vec<SessionSummary>,
    clients: Vec<(String, (ClientId, UnixTime, UnixTime))>,
) -> Vec<SessionSummary> {
    for (sid, client) in clients {
        if let Some(s) = sessions.iter_mut().find(|s| s.sid == sid) {
            s.clients.push(client);
        }
    }
    sessions
}

/// Adds a key and schedules the others of its algorithm to retire ([`crate::Keys::rotate_key`]).
/// Run in a transaction (on PostgreSQL, after taking the rotation lock).
pub(crate) async fn rotate_key(
    db: &impl Db,
    k: &SigningKeyRecord,
    expected_newest: Option<&str>,
    retire_previous_at: UnixTime,
) -> StoreResult<bool> {
    let newest = db
        .opt(&sql::keys::NEWEST, &values![k.alg.as_str()], decode::text)
        .await?;
    if expected_newest.is_some() && newest.as_deref() != expected_newest {
        return Ok(false);
    }
    db.exec(&sql::keys::RETIRE_ALG, &values![k.alg.as_str(), retire_previous_at])
        .await?;
    put_key(db, k).await?;
    Ok(true)
}

pub(crate) async fn put_key(db: &impl Db, k: &SigningKeyRecord) -> StoreResult<()> {
    db.exec(&sql::keys::INSERT, &sql::keys::params(k))
        .await
        .map_err(|e| conflict(e, || format!("key {}", k.kid)))?;
    Ok(())
}

/// Withdraws a key at `at`; `false` if there is no such key.
pub(crate) async fn retire_key(db: &impl Db, kid: &str, at: UnixTime) -> StoreResult<bool> {
    db.exec(&sql::keys::RETIRE, &values![kid, at]).await?;
    Ok(db
        .opt(&sql::keys::EXISTS, &values![kid], decode::exists)
        .await?
        .is_some())
}

/// The server secret `name`, stored as `candidate` by the first instance that asks.
pub(crate) async fn server_secret(db: &impl Db, name: &str, candidate: &[u8], now: UnixTime) -> StoreResult<Vec<u8>> {
    db.exec(&sql::keys::INSERT_SECRET, &values![name, candidate, now])
        .await?;
    db.opt(&sql::keys::FIND_SECRET, &values![name], decode::bytes)
        .await?
        .ok_or_else(|| StoreError::Internal("server secret vanished".into()))
}

/// When the account is locked until, if it is locked now.
pub(crate) async fn login_lock(db: &impl Db, username: &str, now: UnixTime) -> StoreResult<Option<UnixTime>> {
    let until = db
        .opt(&sql::lockouts::LOCKED_UNTIL, &values![username], decode::opt_time)
        .await?;
    Ok(until.flatten().filter(|t| *t > now))
}

/// Reserves a login attempt ([`crate::Lockouts::reserve_login_attempt`]), in one statement.
pub(crate) async fn reserve_login_attempt(
    db: &impl Db,
    username: &str,
    now: UnixTime,
    window_seconds: u64,
    threshold: u32,
) -> StoreResult<LoginAttempt> {
    let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
    let token = attempt_token();
    let params = values![username, now, window, threshold, &token];
    let (granted, until) = db
        .opt(&sql::lockouts::RESERVE, &params, |r| {
            Ok((r.opt_text(0)?, r.opt_int(1)?))
        })
        .await?
        .ok_or_else(|| StoreError::Internal("login attempt reservation returned no row".into()))?;
    Ok(attempt_outcome(granted.as_deref() == Some(token.as_str()), until, now))
}

/// Counts a failed attempt; the lock's end if the account is locked now.
pub(crate) async fn record_login_failure(
    db: &impl Db,
    username: &str,
    now: UnixTime,
    window_seconds: u64,
    threshold: u32,
) -> StoreResult<Option<UnixTime>> {
    let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
    let params = values![username, now, window, threshold];
    let until = db
        .opt(&sql::lockouts::RECORD_FAILURE, &params, decode::opt_time)
        .await?;
    Ok(until.flatten().filter(|t| *t > now))
}

/// The cleanup loop ([`crate::Tokens::cleanup`]): each job's statement, one batch at a time, until
/// a batch comes back short. `run` executes one batch (on SQLite, as a job of its own on the store
/// thread, so other work interleaves).
pub(crate) async fn cleanup<F, Fut>(batch: u32, mut run: F) -> StoreResult<CleanupReport>
where
    F: FnMut(&'static CleanupJob) -> Fut,
    Fut: Future<Output = StoreResult<u64>>,
{
    let mut report = CleanupReport::default();
    for job in &CLEANUP {
        loop {
            let n = run(job).await?;
            *(job.count)(&mut report) += n;
            if n < u64::from(batch) {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    Ok(report)
}

/// The parameters of every cleanup statement.
pub(crate) fn cleanup_params(now: UnixTime, revoked_before: UnixTime, batch: u32) -> [Value<'static>; 3] {
    values![now, revoked_before, batch]
}
