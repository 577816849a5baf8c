//! The records of logout: which sessions to end, what ending them did, and the back-channel
//! logout outbox.

use gatehouse_protocol::types::{ClientId, TokenHash, UnixTime};

/// Which live browser sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd<'a> {
    /// The session of this cookie (the user signs out in their browser).
    Cookie(&'a TokenHash),
    /// The session with this `sid`.
    Sid(&'a str),
    /// Every session of a user, and every token they hold, offline ones too (lock, password
    /// change, `user revoke-sessions`).
    User(&'a str),
}

/// What ending sessions did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndedSessions {
    /// The sessions ended: `(sid, user_id)`.
    pub sessions: Vec<(String, String)>,
    /// Access and refresh tokens revoked with them.
    pub tokens_revoked: u64,
    /// The back-channel logout notifications queued, one per client with a
    /// `backchannel_logout_uri` that received a code in an ended session, claimed by the caller
    /// until the `claim_until` it passed.
    pub notices: Vec<LogoutNotice>,
}

/// A back-channel logout notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutNotice {
    /// Its key: the sid and the client_id.
    pub id: String,
    /// The session that ended.
    pub sid: String,
    /// The client to notify.
    pub client_id: ClientId,
    /// The user.
    pub subject: String,
    /// Who ended the session (`rp`, `user`, `operator`, `user_locked`, ...).
    pub initiator: String,
    /// When the session ended.
    pub created_at: UnixTime,
    /// Deliveries tried so far.
    pub attempts: u32,
    /// When it is next due (while a delivery is in flight: when its claim lapses).
    pub next_attempt_at: UnixTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Set when no more attempts will be made.
    pub gave_up_at: Option<UnixTime>,
}

/// How a delivery attempt of a [`LogoutNotice`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// The client acknowledged it: the notice leaves the outbox.
    Delivered,
    /// It failed and is tried again at `at`.
    Retry {
        /// Attempts made, this one included.
        attempts: u32,
        /// When it is due again.
        at: UnixTime,
        /// Why it failed.
        error: String,
    },
    /// It failed for good (refused, rejected, or out of attempts); kept for `session outbox`.
    GaveUp {
        /// Attempts made, this one included.
        attempts: u32,
        /// Now.
        at: UnixTime,
        /// Why.
        error: String,
    },
}

/// A live browser session and the clients that received a code in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session id (`sid`).
    pub sid: String,
    /// The user.
    pub user_id: String,
    /// When the user last entered their password.
    pub auth_time: UnixTime,
    /// When it ends unless renewed.
    pub expires_at: UnixTime,
    /// `(client_id, first code, last code)`.
    pub clients: Vec<(ClientId, UnixTime, UnixTime)>,
}
