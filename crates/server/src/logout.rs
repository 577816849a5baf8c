//! Ending browser sessions and telling the clients (OpenID Connect Back-Channel Logout 1.0).
//!
//! Every way a session ends goes through [`Backchannel::end`]: the store ends the sessions and,
//! in the same transaction, writes one notification per client that received a code in them to
//! the outbox (so a crash right after cannot lose one). The caller then delivers them at once,
//! in parallel, each within `GATEHOUSE_OUTBOUND_TIMEOUT` (RP-Initiated Logout 1.0 §3: before the
//! browser is redirected). What fails is retried by [`drain_loop`], on any instance, with
//! exponential backoff, until `GATEHOUSE_BACKCHANNEL_ATTEMPTS` attempts are spent.
//!
//! The CLI (`session revoke`, `user lock`, ...) uses the same [`Backchannel`] as the server.

use crate::config::Config;
use crate::keys::KeyRing;
use crate::metrics::METRICS;
use crate::outbound::{OutboundError, Outbounds};
use crate::random::random_b64;
use gatehouse_protocol::logout::{LOGOUT_TOKEN_TYP, LogoutTokenClaims};
use gatehouse_protocol::types::UnixTime;
use gatehouse_storage::{EndedSessions, LogoutNotice, NoticeOutcome, SessionEnd, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Who ended a session: the `initiator` label of `gatehouse_logouts_total`, and what the outbox
/// and the audit log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// RP-initiated logout naming a client.
    Rp,
    /// The user, at the logout endpoint, with no client named.
    User,
    /// `gatehouse session revoke`.
    Operator,
    /// `gatehouse user lock`.
    UserLocked,
    /// `gatehouse user set-password`.
    PasswordChanged,
    /// `gatehouse user revoke-sessions`.
    SessionsRevoked,
    /// Another user signed in in the same browser, replacing the session.
    SignedInAsOther,
    /// `gatehouse user delete`.
    UserDeleted,
}

impl Initiator {
    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rp => "rp",
            Self::User => "user",
            Self::Operator => "operator",
            Self::UserLocked => "user_locked",
            Self::PasswordChanged => "password_changed",
            Self::SessionsRevoked => "sessions_revoked",
            Self::SignedInAsOther => "signed_in_as_other",
            Self::UserDeleted => "user_deleted",
        }
    }
}

/// How long a logout token is valid: it is used at once (Back-Channel Logout 1.0 §2.4, `exp`).
const LOGOUT_TOKEN_TTL: i64 = 120;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Notifications one drain pass claims.
const DRAIN_BATCH: u32 = 50;

/// What ending sessions did, for the caller to report.
#[derive(Debug, Default)]
pub struct Ended {
    /// What the store ended and queued.
    pub store: EndedSessions,
    /// Notifications delivered at once.
    pub delivered: usize,
    /// Notifications left in the outbox for a retry.
    pub queued: usize,
    /// Notifications given up at once (refused destination, client said no).
    pub given_up: usize,
}

/// Ends sessions and delivers back-channel logout notifications.
pub struct Backchannel {
    store: Arc<dyn Store>,
    issuer: String,
    outbound: Outbounds,
    timeout: Duration,
    retry: Duration,
    attempts: u32,
}

impl Backchannel {
    /// The back-channel of `issuer` as configured.
    ///
    /// # Errors
    /// The outbound client could not be built.
    pub fn new(config: &Config, issuer: String, store: Arc<dyn Store>, outbound: Outbounds) -> Result<Self, String> {
        Ok(Self {
            store,
            issuer,
            outbound,
            timeout: config.outbound_timeout,
            retry: config.backchannel_retry,
            attempts: config.backchannel_attempts,
        })
    }

    /// How long a delivery in flight keeps its notification from other instances: the timeout,
    /// and a margin for signing and storing the outcome.
    fn claim(&self, now: UnixTime) -> UnixTime {
        now.plus(self.timeout.as_secs() + 10)
    }

    /// Ends the sessions `end` selects and notifies their clients, waiting at most about
    /// `GATEHOUSE_OUTBOUND_TIMEOUT` for the deliveries; what fails stays in the outbox.
    ///
    /// # Errors
    /// The store failed; nothing was ended.
    pub async fn end(
        self: &Arc<Self>,
        keys: &Arc<KeyRing>,
        end: SessionEnd<'_>,
        initiator: Initiator,
        now: UnixTime,
    ) -> Result<Ended, StoreError> {
        let store = end_sessions(self.store.as_ref(), end, initiator, now, self.claim(now)).await?;
        let outcomes = self.deliver_all(keys, store.notices.clone(), now).await;
        let mut ended = Ended {
            store,
            ..Ended::default()
        };
        for outcome in outcomes {
            match outcome {
                NoticeOutcome::Delivered => ended.delivered += 1,
                NoticeOutcome::Retry { .. } => ended.queued += 1,
                NoticeOutcome::GaveUp { .. } => ended.given_up += 1,
            }
        }
        Ok(ended)
    }

    /// Delivers notifications in parallel and records each outcome.
    async fn deliver_all(
        self: &Arc<Self>,
        keys: &Arc<KeyRing>,
        notices: Vec<LogoutNotice>,
        now: UnixTime,
    ) -> Vec<NoticeOutcome> {
        let mut tasks = tokio::task::JoinSet::new();
        for notice in notices {
            let (this, keys) = (Arc::clone(self), Arc::clone(keys));
            tasks.spawn(async move { this.deliver(&keys, &notice, now).await });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            if let Ok(outcome) = done {
                outcomes.push(outcome);
            }
        }
        outcomes
    }

    /// One delivery attempt: signs a fresh logout token, posts it, and records the outcome.
    async fn deliver(&self, keys: &KeyRing, notice: &LogoutNotice, now: UnixTime) -> NoticeOutcome {
        let attempt = notice.attempts + 1;
        let (result, outcome) = match self.attempt(keys, notice, now).await {
            Attempt::Delivered => ("delivered", NoticeOutcome::Delivered),
            Attempt::Refused(error) => ("refused", self.gave_up(attempt, now, error)),
            Attempt::Rejected(error) => ("rejected", self.gave_up(attempt, now, error)),
            Attempt::Failed(error) if attempt >= self.attempts => (
                "gave_up",
                self.gave_up(
                    attempt,
                    now,
                    format!("{error} (attempt {attempt} of {})", self.attempts),
                ),
            ),
            Attempt::Failed(error) => (
                "failed",
                NoticeOutcome::Retry {
                    attempts: attempt,
                    at: now.plus(self.backoff(attempt).as_secs()),
                    error,
                },
            ),
        };
        METRICS.backchannel.with_label_values(&[result]).inc();
        let error = match &outcome {
            NoticeOutcome::Retry { error, .. } | NoticeOutcome::GaveUp { error, .. } => Some(error.as_str()),
            NoticeOutcome::Delivered => None,
        };
        tracing::info!(target: "gatehouse::audit", event = "logout.backchannel", result, client_id = %notice.client_id, sub = %notice.subject, sid = %notice.sid, attempt, error);
        if let Err(e) = self.store.settle_notice(&notice.id, &outcome).await {
            // The claim lapses and the notification is tried again: at worst a client hears twice.
            tracing::warn!(error = %e, client_id = %notice.client_id, "cannot record a back-channel logout outcome");
        }
        outcome
    }

    fn gave_up(&self, attempts: u32, now: UnixTime, error: String) -> NoticeOutcome {
        NoticeOutcome::GaveUp {
            attempts,
            at: now,
            error,
        }
    }

    /// The wait after the `attempt`-th failure: the configured delay, doubled per attempt.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.retry.saturating_mul(factor).min(MAX_BACKOFF)
    }

    async fn attempt(&self, keys: &KeyRing, notice: &LogoutNotice, now: UnixTime) -> Attempt {
        let client = match self.store.find_client(&notice.client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Attempt::Rejected("the client was deleted".into()),
            Err(e) => return Attempt::Failed(format!("the store failed: {e}")),
        };
        let Some(uri) = client.backchannel_logout_uri.as_ref().map(|u| u.as_str().to_owned()) else {
            return Attempt::Rejected("the client no longer has a backchannel_logout_uri".into());
        };
        let Some(key) = keys.signer(client.id_token_alg) else {
            return Attempt::Failed(format!("no signing key for {}", client.id_token_alg));
        };
        let jti = random_b64(16);
        let claims = LogoutTokenClaims::new(
            &self.issuer,
            client.id.as_str(),
            &notice.subject,
            &notice.sid,
            &jti,
            now.0,
            LOGOUT_TOKEN_TTL,
        );
        let token = match key.sign(&claims, LOGOUT_TOKEN_TYP) {
            Ok(t) => t,
            Err(e) => return Attempt::Failed(format!("signing failed: {e}")),
        };
        match self
            .outbound
            .for_client(&client)
            .post_form(&uri, &[("logout_token", &token)])
            .await
        {
            Ok(reply) if (200..300).contains(&reply.status) => Attempt::Delivered,
            // Retried: the client is overloaded or down, or asks for time.
            Ok(reply) if reply.status >= 500 || reply.status == 408 || reply.status == 429 => {
                Attempt::Failed(format!("{uri} answered HTTP {}", reply.status))
            }
            Ok(reply) if (300..400).contains(&reply.status) => Attempt::Rejected(format!(
                "{uri} answered HTTP {} (a redirect; redirects are not followed: register the final URI with gatehouse client update {} --backchannel-logout-uri)",
                reply.status, client.id
            )),
            // Back-Channel Logout 1.0 §2.8: 400 means the client could not process the token.
            Ok(reply) => Attempt::Rejected(format!(
                "{uri} answered HTTP {}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)])
            )),
            Err(OutboundError::Refused(why)) => Attempt::Refused(why),
            Err(e) => Attempt::Failed(format!("{uri}: {e}")),
        }
    }

    /// One pass over the outbox: claims due notifications and delivers them. Returns how many.
    ///
    /// # Errors
    /// The store failed.
    pub async fn drain(self: &Arc<Self>, keys: &Arc<KeyRing>, now: UnixTime) -> Result<usize, StoreError> {
        let due = self.store.claim_notices(now, self.claim(now), DRAIN_BATCH).await?;
        let n = due.len();
        if n > 0 {
            self.deliver_all(keys, due, now).await;
        }
        Ok(n)
    }

    /// How often the outbox is looked at: often enough to keep to the retry delay.
    #[must_use]
    pub fn poll_interval(&self) -> Duration {
        self.retry.clamp(Duration::from_secs(1), Duration::from_secs(10))
    }
}

/// Ends the sessions `end` selects in the store, counts and audits them, and leaves their
/// notifications in the outbox due at `due` (the CLI passes now: the running servers deliver
/// them; [`Backchannel::end`] passes the end of its claim and delivers them itself).
///
/// # Errors
/// The store failed; nothing was ended.
pub async fn end_sessions(
    store: &dyn Store,
    end: SessionEnd<'_>,
    initiator: Initiator,
    now: UnixTime,
    due: UnixTime,
) -> Result<EndedSessions, StoreError> {
    let ended = store.end_sessions(end, initiator.as_str(), now, due).await?;
    for (sid, user) in &ended.sessions {
        METRICS.logouts.with_label_values(&[initiator.as_str()]).inc();
        let notices = ended.notices.iter().filter(|n| n.sid == *sid).count();
        tracing::info!(target: "gatehouse::audit", event = "session.ended", initiator = initiator.as_str(), sub = %user, sid = %sid, notices);
    }
    Ok(ended)
}

/// How one attempt went.
enum Attempt {
    Delivered,
    /// The destination is not allowed: retrying cannot help.
    Refused(String),
    /// The client answered that it will not take it, or it is gone: retrying cannot help.
    Rejected(String),
    /// Timeout, connection failure, 5xx: tried again later.
    Failed(String),
}
