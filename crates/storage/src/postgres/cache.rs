//! The client cache (`client_cache.rs`) kept honest by PostgreSQL's LISTEN/NOTIFY.
//!
//! A trigger (migration 5) announces each insert, update and delete on `gatehouse_clients`; a
//! dedicated connection listens and drops the entry named, whichever process (CLI, another
//! instance) made the change. The cache is used only while that connection is up: when it drops,
//! the cache is emptied and bypassed until the connection is back and listening.

use crate::client_cache::ClientCache;
use std::sync::Arc;
use std::time::Duration;

/// The channel the trigger notifies.
pub const CHANNEL: &str = "gatehouse_clients";

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
