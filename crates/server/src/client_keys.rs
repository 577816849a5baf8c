//! A client's public keys, for every JWT it signs (client assertions, request objects): the JWKS
//! registered with it, or the one its `jwks_uri` serves, fetched through the outbound client and
//! cached.
//!
//! The cache is per instance and per client:
//! - a fetched JWKS is used for its `Cache-Control: max-age`, kept between [`MIN_TTL`] and
//!   [`MAX_TTL`] ([`DEFAULT_TTL`] without one), then fetched again; if that fetch fails, the old keys
//!   stay in use for at most [`MAX_STALE`] more (the failure is recorded for `gatehouse client
//!   show`), so a key the client withdrew while its server is down is not trusted for ever;
//! - a JWT signed with a key the cache does not hold (unknown `kid`) or whose signature fails may
//!   mean the client rotated its keys: the JWKS is fetched once more, at most once per
//!   [`REFETCH_WINDOW`], so a flood of unknown `kid`s costs the client's server one request;
//! - a failed fetch is not retried for [`FAILURE_BACKOFF`];
//! - concurrent requests for one client wait for one fetch (single flight);
//! - a JWT's shape, algorithm and `typ` are checked before any fetch, so garbage costs nothing;
//! - the caller hears why a fetch failed in general terms (no status, no addresses); the detail
//!   goes to the log and to `client show`.

use crate::metrics::METRICS;
use crate::outbound::{Outbound, OutboundError, Outbounds};
use gatehouse_protocol::Error;
use gatehouse_protocol::client_jwt::{self, Algorithm, ClientKeys, Purpose, Rejection, Verified};
use gatehouse_protocol::error::Description;
use gatehouse_protocol::types::ClientId;
use gatehouse_storage::{ClientRecord, JwksFetch, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shortest time a fetched JWKS is used for.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// The longest.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Without `Cache-Control: max-age`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// At most one refetch for unknown keys per client in this window.
pub const REFETCH_WINDOW: Duration = Duration::from_secs(60);
/// After a failed fetch, none for this long.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(30);
/// How long past their freshness keys stay in use while fetches fail.
pub const MAX_STALE: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct Entry {
    uri: String,
    keys: Option<Arc<ClientKeys>>,
    fresh_until: Option<Instant>,
    failed_at: Option<Instant>,
    /// Why the last fetch failed, in terms fit for the caller.
    failure: Option<&'static str>,
    refetched_at: Option<Instant>,
}

/// The cache of fetched JWKS, with the outbound client that fetches them.
pub struct ClientKeySource {
    outbound: Outbounds,
    store: Arc<dyn Store>,
    entries: Mutex<HashMap<ClientId, Arc<tokio::sync::Mutex<Entry>>>>,
}

impl ClientKeySource {
    /// A source fetching through `outbound` and recording fetches in `store`.
    #[must_use]
    pub fn new(outbound: Outbounds, store: Arc<dyn Store>) -> Self {
        Self {
            outbound,
            store,
            entries: Mutex::default(),
        }
    }

    /// Verifies a JWT `client` signed for `purpose`, with its registered keys and its registered
    /// algorithm `registered` (a name, if any); a `jwks_uri` is fetched or refetched as the module
    /// documentation says. `what` names the JWT in descriptions ("client assertion"); every
    /// refusal, and keys that cannot be had, are answered with `refuse` and that description.
    ///
    /// # Errors
    /// `refuse(description)`; `server_error` for a registered algorithm that no longer parses.
    pub async fn verify(
        &self,
        client: &ClientRecord,
        jwt: &str,
        purpose: Purpose,
        registered: Option<&str>,
        what: &str,
        refuse: fn(Description) -> Error,
    ) -> Result<Verified, Error> {
        let alg = registered
            .map(client_jwt::parse_alg)
            .transpose()
            .map_err(Error::Server)?;
        self.verify_with(client, jwt, purpose, alg, what)
            .await
            .map_err(|why| refuse(why.into()))
    }

    /// [`ClientKeySource::verify`] with the algorithm parsed; the description of a refusal.
    async fn verify_with(
        &self,
        client: &ClientRecord,
        jwt: &str,
        purpose: Purpose,
        alg: Option<Algorithm>,
        what: &str,
    ) -> Result<Verified, String> {
        let refused = |r: &Rejection| r.describe(what);
        client_jwt::check_header(jwt, purpose, alg).map_err(|r| refused(&r))?;
        if let Some(jwks) = client.jwks.as_deref() {
            let keys = ClientKeys::parse(jwks)
                .map_err(|e| format!("the stored keys of client {} are unusable: {e}", client.id))?;
            return client_jwt::verify(jwt, purpose, &keys, alg).map_err(|r| refused(&r));
        }
        let Some(uri) = client.jwks_uri.as_ref().map(|u| u.as_str()) else {
            return Err(format!(
                "client {0} has no registered keys; register them with gatehouse client update {0} --jwks-file FILE or --jwks-uri URI",
                client.id
            ));
        };
        let entry = self.entry(&client.id);
        let mut entry = entry.lock().await;
        let outbound = self.outbound.for_client(client);
        let fetched_now = self.ensure(outbound, &client.id, uri, &mut entry, false).await;
        let keys = entry.keys.clone().ok_or_else(|| unavailable(uri, &entry))?;
        match client_jwt::verify(jwt, purpose, &keys, alg) {
            Err(r @ (Rejection::UnknownKey(_) | Rejection::Signature)) if !fetched_now => {
                // The client may have rotated its keys: look once more, if the window allows.
                if !self.ensure(outbound, &client.id, uri, &mut entry, true).await {
                    return Err(refused(&r));
                }
                let keys = entry.keys.clone().ok_or_else(|| unavailable(uri, &entry))?;
                client_jwt::verify(jwt, purpose, &keys, alg).map_err(|r| refused(&r))
            }
            other => other.map_err(|r| refused(&r)),
        }
    }

    fn entry(&self, id: &ClientId) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(entries.entry(id.clone()).or_default())
    }

    /// Fetches when the entry has no fresh keys (or, with `miss`, for an unknown key, once per
    /// window); whether it fetched successfully.
    async fn ensure(&self, outbound: &Outbound, id: &ClientId, uri: &str, entry: &mut Entry, miss: bool) -> bool {
        let now = Instant::now();
        if entry.uri != uri {
            *entry = Entry {
                uri: uri.to_owned(),
                ..Entry::default()
            };
        }
        let recent = |at: Option<Instant>, window: Duration| at.is_some_and(|t| now.duration_since(t) < window);
        let wanted = if miss {
            !recent(entry.refetched_at, REFETCH_WINDOW)
        } else {
            entry.fresh_until.is_none_or(|f| now >= f)
        };
        if !wanted || recent(entry.failed_at, FAILURE_BACKOFF) {
            return false;
        }
        if miss {
            entry.refetched_at = Some(now);
        }
        let result = Self::fetch(outbound, uri).await;
        let record = JwksFetch {
            client_id: id.clone(),
            uri: uri.to_owned(),
            fetched_at: crate::clock::system_now(),
            key_ids: result.as_ref().map(|(k, _)| k.ids()).unwrap_or_default(),
            error: result.as_ref().err().map(|(_, detail)| detail.clone()),
        };
        // Recorded without holding up this client's requests (the entry's lock is held here).
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            if let Err(e) = store.record_jwks_fetch(&record).await {
                tracing::warn!(client_id = %record.client_id, error = %e, "could not record the jwks_uri fetch");
            }
        });
        match result {
            Ok((keys, ttl)) => {
                METRICS.jwks_fetches.with_label_values(&["ok"]).inc();
                entry.keys = Some(Arc::new(keys));
                entry.fresh_until = Some(now + ttl);
                entry.failed_at = None;
                entry.failure = None;
                true
            }
            Err((public, detail)) => {
                METRICS.jwks_fetches.with_label_values(&["failed"]).inc();
                tracing::warn!(client_id = %id, uri, error = %detail, "fetching the client's jwks_uri failed");
                entry.failed_at = Some(now);
                entry.failure = Some(public);
                if entry.fresh_until.is_some_and(|f| now > f + MAX_STALE) {
                    entry.keys = None;
                }
                false
            }
        }
    }

    /// One fetch: the keys and how long to use them; or why not, for the caller and in detail.
    async fn fetch(outbound: &Outbound, uri: &str) -> Result<(ClientKeys, Duration), (&'static str, String)> {
        let reply = outbound
            .get(uri, "application/jwk-set+json, application/json")
            .await
            .map_err(|e| match e {
                OutboundError::Timeout => (
                    "it did not answer in time",
                    "no answer within GATEHOUSE_OUTBOUND_TIMEOUT".to_owned(),
                ),
                OutboundError::Refused(why) => ("its address is not one this server calls", why),
                OutboundError::Failed(why) => ("the connection failed", why),
            })?;
        if reply.status != 200 {
            return Err((
                "it did not answer 200 with a JWKS",
                format!(
                    "answered HTTP {} (a JWKS must be served with 200; redirects are not followed)",
                    reply.status
                ),
            ));
        }
        let unusable = "it did not serve a usable JWKS (public RSA, EC P-256 or Ed25519 keys)";
        let text = std::str::from_utf8(&reply.body).map_err(|_| (unusable, "the body is not UTF-8".to_owned()))?;
        let keys = ClientKeys::parse(text).map_err(|e| (unusable, format!("the body is not a usable JWKS: {e}")))?;
        Ok((keys, ttl(reply.max_age)))
    }
}

/// How long to use a JWKS served with `max-age`.
fn ttl(max_age: Option<u64>) -> Duration {
    max_age.map_or(DEFAULT_TTL, |s| Duration::from_secs(s).clamp(MIN_TTL, MAX_TTL))
}

fn unavailable(uri: &str, entry: &Entry) -> String {
    format!(
        "the client's keys could not be fetched from its jwks_uri {uri}: {}; the next attempt is made {} seconds after a failure, and gatehouse client show names the cause",
        entry.failure.unwrap_or("no fetch succeeded yet"),
        FAILURE_BACKOFF.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetimes_honour_max_age_within_bounds() {
        assert_eq!(ttl(None), DEFAULT_TTL);
        assert_eq!(ttl(Some(0)), MIN_TTL);
        assert_eq!(ttl(Some(600)), Duration::from_secs(600));
        assert_eq!(ttl(Some(u64::MAX)), MAX_TTL);
    }
}
