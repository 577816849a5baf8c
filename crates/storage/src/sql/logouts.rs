//! Logout: the clients each browser session gave codes to, ending sessions, and the outbox of
//! back-channel logout notifications.

use super::{Sql, Value, values};
use crate::model::NoticeOutcome;
use gatehouse_protocol::types::UnixTime;

/// `(sid, client_id, user_id, now)`: a client received a code in a session.
pub(crate) static RECORD_CLIENT: Sql = Sql::new(
    "INSERT INTO session_clients (sid, client_id, user_id, first_at, last_at) VALUES (?1, ?2, ?3, ?4, ?4)
     ON CONFLICT (sid, client_id) DO UPDATE SET last_at = excluded.last_at",
);

/// The live sessions to end, `(key, now)`: `sid, user_id`.
pub(crate) static SESSIONS_BY_COOKIE: Sql =
    Sql::new("SELECT sid, user_id FROM browser_sessions WHERE token_hash = ?1 AND expires_at > ?2");
pub(crate) static SESSIONS_BY_SID: Sql =
    Sql::new("SELECT sid, user_id FROM browser_sessions WHERE sid = ?1 AND expires_at > ?2");
pub(crate) static SESSIONS_BY_USER: Sql =
    Sql::new("SELECT sid, user_id FROM browser_sessions WHERE user_id = ?1 AND expires_at > ?2 ORDER BY sid");

macro_rules! notice_cols {
    () => {
        "id, sid, client_id, subject, initiator, created_at, attempts, next_attempt_at, last_error, gave_up_at"
    };
}

/// `(sid, initiator, now, claim_until)`: one notification per client of the session that has a
/// back-channel logout URI, claimed by the caller until `claim_until`.
pub(crate) static QUEUE: Sql = Sql::new(concat!(
    "INSERT INTO logout_outbox (id, sid, client_id, subject, initiator, created_at, attempts, next_attempt_at)
     SELECT sc.sid || ' ' || sc.client_id, sc.sid, sc.client_id, sc.user_id, CAST(?2 AS TEXT),
            CAST(?3 AS BIGINT), 0, CAST(?4 AS BIGINT)
     FROM session_clients sc JOIN clients c ON c.id = sc.client_id
     WHERE sc.sid = ?1 AND c.backchannel_logout_uri IS NOT NULL
     ON CONFLICT (id) DO NOTHING RETURNING ",
    notice_cols!()
));
/// `(sid)`: the session's clients are forgotten once notified.
pub(crate) static FORGET_CLIENTS: Sql = Sql::new("DELETE FROM session_clients WHERE sid = ?1");
/// `(sid)`: the session's refresh families that are not `offline_access` (OIDC Core §11: only
/// those are meant to outlive the user's presence).
pub(crate) static ONLINE_FAMILIES: Sql = Sql::new(
    "SELECT DISTINCT family_id FROM refresh_tokens
     WHERE session_id = ?1 AND revoked_at IS NULL AND (' ' || scope || ' ') NOT LIKE '% offline_access %'",
);
/// `(sid)`: codes of the session not yet exchanged (they would start a grant of an ended session).
pub(crate) static DELETE_CODES: Sql = Sql::per_backend(
    "DELETE FROM codes WHERE consumed_at IS NULL AND json_extract(grant_data, '$.session_id') = ?1",
    "DELETE FROM codes WHERE consumed_at IS NULL AND (grant_data::json ->> 'session_id') = ?1",
);
/// `(sid)`.
pub(crate) static DELETE_SESSION: Sql = Sql::new("DELETE FROM browser_sessions WHERE sid = ?1");

/// `(now, claim_until, limit)`: due notifications, claimed until `claim_until` so that no other
/// instance delivers them meanwhile (PostgreSQL skips rows another instance is claiming).
pub(crate) static CLAIM: Sql = Sql::per_backend(
    concat!(
        "UPDATE logout_outbox SET next_attempt_at = ?2 WHERE id IN (SELECT id FROM logout_outbox
         WHERE gave_up_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?3) RETURNING ",
        notice_cols!()
    ),
    concat!(
        "UPDATE logout_outbox SET next_attempt_at = ?2 WHERE id IN (SELECT id FROM logout_outbox
         WHERE gave_up_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?3
         FOR UPDATE SKIP LOCKED) RETURNING ",
        notice_cols!()
    ),
);
/// `(id)`.
pub(crate) static DELIVERED: Sql = Sql::new("DELETE FROM logout_outbox WHERE id = ?1");
/// `(id, attempts, next_attempt_at, last_error, gave_up_at)`.
pub(crate) static SETTLE: Sql = Sql::new(
    "UPDATE logout_outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4, gave_up_at = ?5 WHERE id = ?1",
);
pub(crate) static LIST_NOTICES: Sql = Sql::new(concat!(
    "SELECT ",
    notice_cols!(),
    " FROM logout_outbox ORDER BY created_at, id"
));

/// `(user_id or NULL, now)`: live sessions.
pub(crate) static LIST_SESSIONS: Sql = Sql::new(
    "SELECT sid, user_id, auth_time, expires_at FROM browser_sessions
     WHERE (CAST(?1 AS TEXT) IS NULL OR user_id = ?1) AND expires_at > ?2 ORDER BY auth_time, sid",
);
/// `(user_id or NULL)`: `sid, client_id, first_at, last_at`.
pub(crate) static LIST_SESSION_CLIENTS: Sql = Sql::new(
    "SELECT sid, client_id, first_at, last_at FROM session_clients
     WHERE CAST(?1 AS TEXT) IS NULL OR user_id = ?1 ORDER BY first_at, client_id",
);

/// `(old token_hash, new token_hash, auth_time, expires_at, user_id)`: the same user signed in
/// again in this browser; the session keeps its `sid` (and the clients that know it) under a new
/// cookie.
pub(crate) static RENEW_SESSION: Sql = Sql::new(
    "UPDATE browser_sessions SET token_hash = ?2, auth_time = ?3, expires_at = ?4
     WHERE token_hash = ?1 AND user_id = ?5 AND expires_at > ?3",
);

/// The parameters of [`SETTLE`] for an outcome other than delivery.
pub(crate) fn settle_params<'a>(id: &'a str, outcome: &'a NoticeOutcome) -> Option<[Value<'a>; 5]> {
    match outcome {
        NoticeOutcome::Delivered => None,
        NoticeOutcome::Retry { attempts, at, error } => {
            Some(values![id, i64::from(*attempts), *at, error.as_str(), None::<UnixTime>])
        }
        NoticeOutcome::GaveUp { attempts, at, error } => {
            Some(values![id, i64::from(*attempts), *at, error.as_str(), Some(*at)])
        }
    }
}
