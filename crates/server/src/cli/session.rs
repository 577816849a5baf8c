//! `gatehouse session ...`: browser sessions and the back-channel logout outbox.
//!
//! Ending sessions here queues their back-channel logout notifications in the outbox, due at
//! once; the running servers deliver them (each looks at the outbox every
//! `GATEHOUSE_BACKCHANNEL_RETRY`, between 1 and 10 seconds), and `session outbox` shows how that
//! went.

use super::{audit, now, print, print_list};
use crate::logout::{Initiator, end_sessions};
use anyhow::bail;
use clap::Subcommand;
use gatehouse_storage::{EndedSessions, LogoutNotice, SessionEnd, SessionSummary, Store};
use serde_json::json;
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum SessionCommand {
    /// List live browser sessions and the clients that received a code in each.
    List {
        /// Only this user's sessions (username).
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End sessions (every session of a user, or one by its sid) and send back-channel logout to
    /// their clients. With --user, every token the user holds is revoked too.
    Revoke {
        /// End every session of this user (username).
        #[arg(long, conflicts_with = "sid", required_unless_present = "sid")]
        user: Option<String>,
        /// End the session with this sid (the `sid` claim of its ID tokens).
        #[arg(long, allow_hyphen_values = true)]
        sid: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the back-channel logout outbox: notifications waiting for a retry and given up.
    Outbox {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(cmd: SessionCommand, store: Arc<dyn Store>) -> anyhow::Result<()> {
    match cmd {
        SessionCommand::List { user, json } => {
            let user_id = match &user {
                Some(name) => Some(user_id(&store, name).await?),
                None => None,
            };
            let sessions = store.list_sessions(user_id.as_deref(), now()).await?;
            print_list(json, &sessions, session_json, "no live sessions", |s| {
                let clients: Vec<&str> = s.clients.iter().map(|c| c.0.as_str()).collect();
                let clients = if clients.is_empty() {
                    "-".into()
                } else {
                    clients.join(", ")
                };
                format!(
                    "{:<24} user {:<24} signed in {}  clients: {clients}",
                    s.sid, s.user_id, s.auth_time.0
                )
            });
            Ok(())
        }
        SessionCommand::Revoke { user, sid, json } => {
            let ended = match (&user, &sid) {
                (Some(name), _) => end_user(&store, &user_id(&store, name).await?, Initiator::Operator).await?,
                (None, Some(sid)) => {
                    let t = now();
                    end_sessions(store.as_ref(), SessionEnd::Sid(sid), Initiator::Operator, t, t).await?
                }
                (None, None) => bail!("give --user USERNAME or --sid SID"),
            };
            if ended.sessions.is_empty() {
                bail!("no live session matched; see gatehouse session list");
            }
            audit(
                "session.revoked",
                &format!(
                    "sessions={} revoked_tokens={} notices={}",
                    ended.sessions.len(),
                    ended.tokens_revoked,
                    ended.notices.len()
                ),
            );
            let value = json!({
                "sessions": ended.sessions.iter().map(|(sid, user)| json!({"sid": sid, "user_id": user})).collect::<Vec<_>>(),
                "tokens_revoked": ended.tokens_revoked,
                "notices_queued": ended.notices.len(),
            });
            print(json, &value, || {
                let tokens = match &user {
                    Some(name) => user_tokens_ended(&ended, name),
                    None => format!("{} stored tokens revoked", ended.tokens_revoked),
                };
                format!("{} session(s) ended, {tokens}{}", ended.sessions.len(), queued(&ended))
            });
            Ok(())
        }
        SessionCommand::Outbox { json } => {
            let notices = store.list_notices().await?;
            let empty = "the outbox is empty: every back-channel logout was delivered";
            print_list(json, &notices, notice_json, empty, |n| {
                let state = match n.gave_up_at {
                    Some(t) => format!("gave up at {}", t.0),
                    None => format!("next attempt at {}", n.next_attempt_at.0),
                };
                let error = n.last_error.as_deref().unwrap_or("not tried yet");
                format!(
                    "{:<20} sid {:<24} attempts {:<2} {state}: {error}",
                    n.client_id, n.sid, n.attempts
                )
            });
            Ok(())
        }
    }
}

/// Ends every session of a user, revoking every token they hold; the notifications are due now.
pub(super) async fn end_user(
    store: &Arc<dyn Store>,
    user_id: &str,
    initiator: Initiator,
) -> anyhow::Result<EndedSessions> {
    let t = now();
    Ok(end_sessions(store.as_ref(), SessionEnd::User(user_id), initiator, t, t).await?)
}

/// What the CLI says about the tokens a user's sessions ended with. The count is of stored tokens
/// (refresh tokens, opaque access tokens): JWT access tokens are never stored, and end with the
/// record of the user's revocation time, which no count can show.
pub(super) fn user_tokens_ended(ended: &EndedSessions, username: &str) -> String {
    format!(
        "{} stored tokens revoked, and all JWT access tokens issued to {username} before now are inactive",
        ended.tokens_revoked
    )
}

/// What the CLI says about the notifications it queued.
pub(super) fn queued(ended: &EndedSessions) -> String {
    match ended.notices.len() {
        0 => String::new(),
        n => format!(
            "; {n} back-channel logout notification(s) queued for the running servers to deliver (see gatehouse session outbox)"
        ),
    }
}

async fn user_id(store: &Arc<dyn Store>, username: &str) -> anyhow::Result<String> {
    Ok(store
        .find_user_by_username(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user called {username}; see gatehouse user list"))?
        .id)
}

fn session_json(s: &SessionSummary) -> serde_json::Value {
    json!({
        "sid": s.sid,
        "user_id": s.user_id,
        "auth_time": s.auth_time.0,
        "expires_at": s.expires_at.0,
        "clients": s.clients.iter().map(|(id, first, last)| json!({
            "client_id": id, "first_code_at": first.0, "last_code_at": last.0,
        })).collect::<Vec<_>>(),
    })
}

fn notice_json(n: &LogoutNotice) -> serde_json::Value {
    json!({
        "client_id": n.client_id,
        "sid": n.sid,
        "sub": n.subject,
        "initiator": n.initiator,
        "created_at": n.created_at.0,
        "attempts": n.attempts,
        "next_attempt_at": n.next_attempt_at.0,
        "last_error": n.last_error,
        "gave_up_at": n.gave_up_at.map(|t| t.0),
        "status": if n.gave_up_at.is_some() { "given_up" } else { "pending" },
    })
}
