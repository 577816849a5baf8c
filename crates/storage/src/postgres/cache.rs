//! Client records cached in the server, kept honest by PostgreSQL's LISTEN/NOTIFY.
//!
//! Every token, introspection and revocation request authenticates a client, so its record is read
//! far more often than it changes. A trigger (migration 5) announces each insert, update and delete
//! on `gatehouse_clients`; a dedicated connection listens and drops the entry named, whichever
//! process (CLI, another instance) made the change. The cache is used only while that connection is
//! up: when it drops, the cache is emptied and bypassed until the connection is back and listening.
//! A load that raced a change is not kept (a generation counter is compared before and after).

use crate::model::ClientRecord;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The channel the trigger notifies.
pub const CHANNEL: &str = "gatehouse_clients";

/// Most cached clients; past this the cache starts over (a deployment with more clients than this
/// still works, it just reads more of them from the database).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct ClientCache {
    entries: Mutex<HashMap<String, ClientRecord>>,
    /// Bumped by every invalidation; a load is kept only if it did not change meanwhile.
    generation: AtomicU64,
    /// The listening connection is up.
    live: AtomicBool,
}

impl ClientCache {
    /// The cached record, when the cache is live.
    pub fn get(&self, id: &str) -> Option<ClientRecord> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        self.entries.lock().ok()?.get(id).cloned()
    }

    /// Whether the listening connection is up (and entries are used).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// The generation to pass to [`Self::put`] after loading.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps a record loaded when the generation was `seen`, unless something changed since.
    pub fn put(&self, seen: u64, client: &ClientRecord) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock()
            && self.generation.load(Ordering::Acquire) == seen
        {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(client.id.as_str().to_owned(), client.clone());
        }
    }

    /// Forgets one client (a notification, or a change made through this store).
    pub fn invalidate(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.remove(id);
        }
    }

    /// Forgets everything and sets whether the cache may be used.
    fn reset(&self, live: bool) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
            self.live.store(live, Ordering::Release);
        }
    }
}

/// Opens the listening connection, with or without TLS as the pool does.
pub struct Connector {
    pub config: tokio_postgres::Config,
    pub tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Connector {
    /// Connects and starts delivering notifications to `cache`; the handle ends with the connection.
    async fn connect(
        &self,
        cache: &Arc<ClientCache>,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
        Ok(match &self.tls {
            None => {
                let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
                (client, pump(connection, Arc::clone(cache)))
            }
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                (client, pump(connection, Arc::clone(cache)))
            }
        })
    }
}

/// Drives the connection (it must be polled for queries to run too) and applies notifications.
fn pump<S, T>(mut connection: tokio_postgres::Connection<S, T>, cache: Arc<ClientCache>) -> tokio::task::JoinHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => cache.invalidate(n.payload()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
}

/// Keeps a LISTEN connection open for as long as the process runs, reconnecting after failures.
pub async fn listen(cache: Arc<ClientCache>, connector: Connector) {
    loop {
        match connector.connect(&cache).await {
            Ok((client, pump)) => {
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        cache.reset(true);
                        tracing::debug!("client cache live (LISTEN {CHANNEL})");
                        let _ = pump.await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN {CHANNEL} failed; client records are read on every request");
                        pump.abort();
                    }
                }
                cache.reset(false);
            }
            Err(e) => {
                cache.reset(false);
                tracing::debug!(error = %e, "client cache listener cannot connect; retrying");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
