//! The caches of `cache.rs` kept honest by PostgreSQL's LISTEN/NOTIFY.
//!
//! Triggers announce each change to `clients` on `gatehouse_clients` (migration 5, the client's id
//! as payload) and everything that can revoke a JWT access token on `gatehouse_revocations`
//! (migration 15); a dedicated connection listens and drops the client named, or every "not
//! revoked" answer, whichever process (CLI, another instance) made the change.
//!
//! The caches are used only while the listener provably hears: every [`HEARTBEAT`] it sends a
//! NOTIFY through the pool, the way changes are written, on a channel of its own with a nonce of
//! its own, and it must hear it back within two beats. PostgreSQL delivers notifications in the
//! order their transactions committed, so hearing a beat means every change committed before it
//! has been applied. A connection that is open but deaf (black-holed by the network, where TCP
//! notices nothing for hours, or PgBouncer in transaction mode, which accepts LISTEN and never
//! delivers) turns the caches off, emptied and bypassed, within two to three seconds, as does a
//! connection that drops, until the listener hears again.

use crate::cache::{ClientCache, RevocationCache};
use std::sync::Arc;
use std::time::Duration;

/// The channel the client trigger notifies.
pub const CLIENTS: &str = "gatehouse_clients";
/// The channel the revocation triggers notify.
pub const REVOCATIONS: &str = "gatehouse_revocations";
/// The channel listeners send their heartbeats on (payload: their nonce, a colon, the beat's number).
pub const BEATS: &str = "gatehouse_heartbeat";
/// How often a listener sends its heartbeat; one not heard two beats later turns the caches off.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// The caches one listening connection keeps.
#[derive(Clone, Default)]
pub struct Caches {
    pub clients: Arc<ClientCache>,
    pub revocations: Arc<RevocationCache>,
}

impl Caches {
    fn reset(&self, live: bool) {
        self.clients.reset(live);
        self.revocations.reset(live);
    }
}

/// Opens the listening connection, with or without TLS as the pool does, and sends heartbeats
/// through the pool.
pub struct Connector {
    pub config: tokio_postgres::Config,
    pub tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    pub pool: deadpool_postgres::Pool,
}

impl Connector {
    /// A connector for the pool's `config`, named as its connections are, followed by " listener".
    pub fn new(
        mut config: tokio_postgres::Config,
        tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
        pool: deadpool_postgres::Pool,
    ) -> Self {
        config.application_name(format!(
            "{} listener",
            config.get_application_name().unwrap_or_default()
        ));
        Self { config, tls, pool }
    }

    /// Connects and starts delivering notifications: changes to `caches`, heartbeats (theirs
    /// and other instances') to the receiver. The handle ends with the connection.
    async fn connect(&self, caches: &Caches) -> Result<Connection, tokio_postgres::Error> {
        let (beats, heard) = tokio::sync::mpsc::unbounded_channel();
        let (client, pump) = match &self.tls {
            None => {
                let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
                (client, pump(connection, caches.clone(), beats))
            }
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                (client, pump(connection, caches.clone(), beats))
            }
        };
        Ok(Connection { client, pump, heard })
    }

    /// Sends beat `n` of `nonce` through the pool, without waiting for it (a beat that cannot be
    /// sent is a beat not heard).
    fn beat(&self, nonce: &str, n: u64) {
        let pool = self.pool.clone();
        let payload = format!("{nonce}:{n}");
        tokio::spawn(async move {
            let sent = match pool.get().await {
                Ok(c) => c
                    .execute("SELECT pg_notify($1, $2)", &[&BEATS, &payload])
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = sent {
                tracing::debug!(error = %e, "cannot send the cache heartbeat");
            }
        });
    }
}

/// One listening connection: its client, the task driving it, and the heartbeats it hears.
struct Connection {
    client: tokio_postgres::Client,
    pump: tokio::task::JoinHandle<()>,
    heard: tokio::sync::mpsc::UnboundedReceiver<String>,
}

/// Drives the connection (it must be polled for queries to run too), applies changes and passes
/// heartbeats on.
fn pump<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    caches: Caches,
    beats: tokio::sync::mpsc::UnboundedSender<String>,
) -> tokio::task::JoinHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => match n.channel() {
                    CLIENTS => caches.clients.invalidate(n.payload()),
                    REVOCATIONS => caches.revocations.clear(),
                    _ => {
                        let _ = beats.send(n.payload().to_owned());
                    }
                },
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
}

/// Whether the caches may be used, judged by the heartbeats of one connection.
#[derive(Debug, Default, PartialEq, Eq)]
struct Hearing {
    /// The last beat sent, and the highest of ours heard back.
    sent: u64,
    heard: u64,
    /// `None` until the first beat is heard or missed.
    live: Option<bool>,
}

impl Hearing {
    /// A beat of ours came back: the caches may be used once the last one sent is heard.
    fn heard(&mut self, n: u64) -> Option<bool> {
        self.heard = self.heard.max(n);
        (self.live != Some(true) && self.heard == self.sent).then(|| {
            self.live = Some(true);
            true
        })
    }

    /// A beat is due: the one sent two beats ago must have come back. Returns the number of the
    /// beat to send, and the change of state, if any.
    fn tick(&mut self) -> (u64, Option<bool>) {
        let deaf = self.heard + 1 < self.sent;
        let change = (deaf && self.live != Some(false)).then(|| {
            self.live = Some(false);
            false
        });
        self.sent += 1;
        (self.sent, change)
    }
}

/// Applies a change of state to the caches, and says so.
fn turn(caches: &Caches, live: Option<bool>) {
    match live {
        Some(true) => {
            caches.reset(true);
            tracing::debug!("caches live (LISTEN {CLIENTS}, {REVOCATIONS}; heartbeat heard)");
        }
        Some(false) => {
            caches.reset(false);
            tracing::warn!(
                "the cache listener did not hear its own heartbeat within {} s: client records and revocations are read from the database on every request until it does (behind PgBouncer, use session mode or connect directly)",
                2 * HEARTBEAT.as_secs()
            );
        }
        None => {}
    }
}

/// Listens on one connection until it ends, turning the caches on and off by its heartbeats.
async fn hear(caches: &Caches, connector: &Connector, mut connection: Connection, nonce: &str) {
    let mut hearing = Hearing::default();
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut connection.pump => return,
            Some(payload) = connection.heard.recv() => {
                let ours = payload.strip_prefix(nonce).and_then(|n| n.strip_prefix(':'));
                if let Some(n) = ours.and_then(|n| n.parse().ok()) {
                    turn(caches, hearing.heard(n));
                }
            }
            _ = ticks.tick() => {
                let (n, change) = hearing.tick();
                turn(caches, change);
                connector.beat(nonce, n);
            }
        }
    }
}

/// Keeps a LISTEN connection open for as long as the process runs, reconnecting after failures.
pub async fn listen(caches: Caches, connector: Connector) {
    loop {
        match connector.connect(&caches).await {
            Ok(connection) => {
                // The nonce tells this connection's beats from other instances' and earlier ones'.
                let listened = connection
                    .client
                    .simple_query(&format!(
                        "LISTEN {CLIENTS}; LISTEN {REVOCATIONS}; LISTEN {BEATS}; SELECT gen_random_uuid()::text"
                    ))
                    .await;
                let nonce = listened.as_ref().ok().and_then(|messages| {
                    messages.iter().find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                        _ => None,
                    })
                });
                match (listened, nonce) {
                    (Ok(_), Some(nonce)) => hear(&caches, &connector, connection, &nonce).await,
                    (listened, _) => {
                        let e = listened.err().map(|e| e.to_string()).unwrap_or_default();
                        tracing::warn!(error = %e, "LISTEN failed; client records and revocations are read on every request");
                        connection.pump.abort();
                    }
                }
                caches.reset(false);
            }
            Err(e) => {
                caches.reset(false);
                tracing::debug!(error = %e, "cache listener cannot connect; retrying");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Hearing;

    #[test]
    fn caches_go_live_when_the_last_beat_sent_comes_back_and_off_when_one_is_two_beats_late() {
        let mut h = Hearing::default();
        assert_eq!(h.tick(), (1, None));
        assert_eq!(h.heard(1), Some(true), "the first beat heard turns the caches on");
        assert_eq!(h.tick(), (2, None));
        assert_eq!(h.tick(), (3, None), "one beat late is tolerated");
        assert_eq!(h.heard(2), None, "already on");
        assert_eq!(h.tick(), (4, None));
        assert_eq!(
            h.tick(),
            (5, Some(false)),
            "beat 3, sent two beats ago, never came back"
        );
        assert_eq!(h.tick(), (6, None), "said once");
        assert_eq!(h.heard(5), None, "an old beat is not enough to come back");
        assert_eq!(h.heard(6), Some(true));
    }

    #[test]
    fn a_listener_that_never_hears_turns_the_caches_off_once() {
        let mut h = Hearing::default();
        assert_eq!(h.tick(), (1, None));
        assert_eq!(h.tick(), (2, None));
        assert_eq!(h.tick(), (3, Some(false)));
        assert_eq!(h.tick(), (4, None));
    }
}
