//! The caches of `cache.rs` kept honest by PostgreSQL's LISTEN/NOTIFY.
//!
//! Triggers announce each change to `clients` on `gatehouse_clients` (migration 5, the client's id
//! as payload) and everything that can revoke a JWT access token on `gatehouse_revocations`
//! (migration 15); a dedicated connection listens and drops the client named, or every "not
//! revoked" answer, whichever process (CLI, another instance) made the change. The caches are used
//! only while that connection is up: when it drops, they are emptied and bypassed until the
//! connection is back and listening.

use crate::cache::{ClientCache, RevocationCache};
use std::sync::Arc;
use std::time::Duration;

/// The channel the client trigger notifies.
pub const CLIENTS: &str = "gatehouse_clients";
/// The channel the revocation triggers notify.
pub const REVOCATIONS: &str = "gatehouse_revocations";

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

    fn notified(&self, n: &tokio_postgres::Notification) {
        match n.channel() {
            CLIENTS => self.clients.invalidate(n.payload()),
            _ => self.revocations.clear(),
        }
    }
}

/// Opens the listening connection, with or without TLS as the pool does.
pub struct Connector {
    pub config: tokio_postgres::Config,
    pub tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Connector {
    /// Connects and starts delivering notifications to `caches`; the handle ends with the connection.
    async fn connect(
        &self,
        caches: &Caches,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
        Ok(match &self.tls {
            None => {
                let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
                (client, pump(connection, caches.clone()))
            }
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                (client, pump(connection, caches.clone()))
            }
        })
    }
}

/// Drives the connection (it must be polled for queries to run too) and applies notifications.
fn pump<S, T>(mut connection: tokio_postgres::Connection<S, T>, caches: Caches) -> tokio::task::JoinHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => caches.notified(&n),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
}

/// Keeps a LISTEN connection open for as long as the process runs, reconnecting after failures.
pub async fn listen(caches: Caches, connector: Connector) {
    loop {
        match connector.connect(&caches).await {
            Ok((client, pump)) => {
                match client
                    .batch_execute(&format!("LISTEN {CLIENTS}; LISTEN {REVOCATIONS}"))
                    .await
                {
                    Ok(()) => {
                        caches.reset(true);
                        tracing::debug!("caches live (LISTEN {CLIENTS}, {REVOCATIONS})");
                        let _ = pump.await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN failed; client records and revocations are read on every request");
                        pump.abort();
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
