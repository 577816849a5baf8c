//! The caches of `cache.rs` kept honest by PostgreSQL's LISTEN/NOTIFY.
//!
//! Triggers announce each change to `clients` on `gatehouse_clients` (migration 5, the client's id
//! as payload) and everything that can revoke a JWT access token on `gatehouse_revocations`
//! (migration 15); a dedicated connection listens and drops the client named, or every "not
//! revoked" answer, whichever process (CLI, another instance) made the change.
//!
//! The caches are used only while the listener provably hears. Every [`HEARTBEAT`] a second
//! connection of its own (not the pool, where a beat would queue behind requests under load)
//! sends a NOTIFY on a channel only this listener listens to, and the listener must hear it back
//! within two beats. PostgreSQL delivers notifications in the order their transactions committed,
//! so hearing a beat means every change committed before it has been applied. A listener that is
//! open but deaf (black-holed by the network, where TCP notices nothing for hours, or behind
//! PgBouncer in transaction mode, which accepts LISTEN and never delivers) turns the caches off,
//! emptied and bypassed, two to three seconds after the last beat it heard; after [`GIVE_UP`]
//! beats unheard both connections are replaced. A connection that drops turns them off at once.
//! They come back when a beat is heard again.

use crate::cache::{ClientCache, RevocationCache};
use std::sync::Arc;
use std::time::Duration;

/// The channel the client trigger notifies.
pub const CLIENTS: &str = "gatehouse_clients";
/// The channel the revocation triggers notify.
pub const REVOCATIONS: &str = "gatehouse_revocations";
/// How often a listener sends its heartbeat; one not heard two beats later turns the caches off.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Beats unheard after which the listener reconnects.
const GIVE_UP: u64 = 10;

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

/// Opens the listening connection and the one that sends its heartbeats, with or without TLS as
/// the pool does.
pub struct Connector {
    listening: tokio_postgres::Config,
    beating: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Connector {
    /// A connector for the pool's `config`, its connections named as the pool's are, followed by
    /// " listener" and " heartbeat".
    pub fn new(config: tokio_postgres::Config, tls: Option<tokio_postgres_rustls::MakeRustlsConnect>) -> Self {
        let named = |suffix: &str| {
            let mut c = config.clone();
            c.application_name(format!(
                "{} {suffix}",
                config.get_application_name().unwrap_or_default()
            ));
            c
        };
        Self {
            listening: named("listener"),
            beating: named("heartbeat"),
            tls,
        }
    }

    /// Connects and starts delivering notifications: changes to `caches`, anything else (the
    /// beats of the one channel the listener listens to besides) to `beats`. The handle ends with
    /// the connection.
    async fn connect(
        &self,
        config: &tokio_postgres::Config,
        caches: &Caches,
        beats: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
        Ok(match &self.tls {
            None => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                (client, pump(connection, caches.clone(), beats))
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                (client, pump(connection, caches.clone(), beats))
            }
        })
    }
}

/// Drives a connection (it must be polled for queries to run too), applies changes and passes
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

/// A heartbeat channel no other listener uses: 64 random bits (std's per-process hash keys) and
/// a per-process count, so neither another instance nor an earlier connection shares it.
fn beat_channel() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let random = std::hash::RandomState::new().build_hasher().finish();
    format!(
        "gatehouse_heartbeat_{random:016x}_{}",
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether the caches may be used, judged by the heartbeats of one connection.
#[derive(Debug, Default, PartialEq, Eq)]
struct Hearing {
    /// The last beat sent, and the highest heard back.
    sent: u64,
    heard: u64,
    /// `None` until the first beat is heard or missed.
    live: Option<bool>,
}

impl Hearing {
    /// A beat came back: the caches may be used while at most the last one sent is on its way
    /// (they are emptied when they turn on, so what was missed before does not matter).
    fn heard(&mut self, n: u64) -> Option<bool> {
        self.heard = self.heard.max(n);
        (self.live != Some(true) && self.heard + 1 >= self.sent).then(|| {
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

    /// So many beats went unheard that the connections are better replaced.
    fn given_up(&self) -> bool {
        self.heard + GIVE_UP < self.sent
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

/// One listening connection and the one that sends its beats, each with the task driving it.
struct Hearer {
    /// Kept: the connection ends when its client is dropped.
    _listening: tokio_postgres::Client,
    listener: tokio::task::JoinHandle<()>,
    sender: Arc<tokio_postgres::Client>,
    notify: tokio_postgres::Statement,
    sending: tokio::task::JoinHandle<()>,
    heard: tokio::sync::mpsc::UnboundedReceiver<String>,
    channel: String,
}

impl Hearer {
    /// Opens both connections and listens; `None` when that fails (a failed LISTEN is said).
    async fn open(caches: &Caches, connector: &Connector) -> Option<Self> {
        let (beats, heard) = tokio::sync::mpsc::unbounded_channel();
        let connected = async {
            let (listening, listener) = connector.connect(&connector.listening, caches, beats.clone()).await?;
            let (sender, sending) = connector.connect(&connector.beating, caches, beats).await?;
            Ok::<_, tokio_postgres::Error>((listening, listener, sender, sending))
        };
        let (listening, listener, sender, sending) = match connected.await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "cache listener cannot connect; retrying");
                return None;
            }
        };
        let channel = beat_channel();
        let listened = listening
            .batch_execute(&format!("LISTEN {CLIENTS}; LISTEN {REVOCATIONS}; LISTEN {channel}"))
            .await;
        let prepared = match listened {
            Ok(()) => sender.prepare("SELECT pg_notify($1, $2)").await,
            Err(e) => Err(e),
        };
        match prepared {
            Ok(notify) => Some(Self {
                _listening: listening,
                listener,
                sender: Arc::new(sender),
                notify,
                sending,
                heard,
                channel,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN failed; client records and revocations are read on every request");
                listener.abort();
                sending.abort();
                None
            }
        }
    }

    /// Sends beat `n` without waiting for it (a beat that cannot be sent is a beat not heard).
    fn beat(&self, n: u64) {
        let (sender, notify, channel) = (Arc::clone(&self.sender), self.notify.clone(), self.channel.clone());
        tokio::spawn(async move {
            let sent = sender.execute(&notify, &[&channel, &n.to_string()]).await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "cannot send the cache heartbeat");
            }
        });
    }

    /// Turns the caches on and off by the heartbeats until a connection ends or the listener has
    /// not heard for [`GIVE_UP`] beats.
    async fn hear(mut self, caches: &Caches) {
        let mut hearing = Hearing::default();
        let mut ticks = tokio::time::interval(HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Beats already in count before a tick that was due during a stall.
            tokio::select! {
                biased;
                _ = &mut self.listener => break,
                _ = &mut self.sending => break,
                Some(payload) = self.heard.recv() => {
                    if let Ok(n) = payload.parse() {
                        turn(caches, hearing.heard(n));
                    }
                }
                _ = ticks.tick() => {
                    let (n, change) = hearing.tick();
                    turn(caches, change);
                    if hearing.given_up() {
                        tracing::warn!("the cache listener has not heard its heartbeat for {GIVE_UP} s; reconnecting");
                        break;
                    }
                    self.beat(n);
                }
            }
        }
        self.listener.abort();
        self.sending.abort();
    }
}

/// Keeps a listener for as long as the process runs, reconnecting after failures.
pub async fn listen(caches: Caches, connector: Connector) {
    loop {
        if let Some(hearer) = Hearer::open(&caches, &connector).await {
            hearer.hear(&caches).await;
        }
        caches.reset(false);
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
        assert_eq!(h.heard(4), None, "an old beat is not enough to come back");
        assert_eq!(h.heard(5), Some(true), "the beat before the last one sent is");
        assert_eq!(h.heard(6), None);
    }

    #[test]
    fn a_listener_that_never_hears_turns_the_caches_off_once() {
        let mut h = Hearing::default();
        assert_eq!(h.tick(), (1, None));
        assert_eq!(h.tick(), (2, None));
        assert_eq!(h.tick(), (3, Some(false)));
        assert_eq!(h.tick(), (4, None));
        for n in 5..=10 {
            assert_eq!(h.tick(), (n, None));
            assert!(!h.given_up(), "beat {n}");
        }
        h.tick();
        assert!(h.given_up(), "ten beats unheard: reconnect");
    }
}
