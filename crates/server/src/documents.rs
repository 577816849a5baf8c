//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00): a `client_id`
//! that is an https URL names the client's metadata, which the server fetches and uses as its
//! registration. MCP clients identify themselves this way (MCP authorization, 2025-11-25).
//!
//! - The URL must have a path, no fragment, no user information and no dot segments (§3), and its
//!   host must be in `GATEHOUSE_CLIENT_ID_METADATA_HOSTS` when that is set.
//! - The document is fetched through the outbound client ([`crate::outbound`]: internal
//!   addresses refused before any connection, no redirects, a timeout) and may be at most
//!   [`MAX_DOCUMENT`] bytes. Its `client_id` must be the URL exactly; it is read by the one
//!   metadata model with the document rules (no shared secret: `none` or `private_key_jwt`).
//! - It is used for its `Cache-Control: max-age` within the bounds of [`crate::client_keys`]; a
//!   failed refetch keeps the last good version for at most their `MAX_STALE`; concurrent
//!   requests wait for one fetch.
//! - The client is kept in the store (codes, tokens and consents refer to it). When a new version
//!   changes what users were shown (name, redirect URIs, logo), every user's consent to it is
//!   forgotten, so the next authorization asks again.

use crate::client_keys::{DEFAULT_TTL, FAILURE_BACKOFF, MAX_STALE, MAX_TTL, MIN_TTL};
use crate::config::Registration;
use crate::http::error::store_error;
use crate::outbound::{Outbound, OutboundError};
use gatehouse_protocol::Error;
use gatehouse_protocol::registration::{ClientMetadata, Source};
use gatehouse_protocol::types::{ClientId, UnixTime};
use gatehouse_storage::{ClientOrigin, ClientRecord, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest document read (the draft suggests 5 KB).
pub const MAX_DOCUMENT: usize = 5 * 1024;

/// Whether a `client_id` has the form of a metadata document URL.
#[must_use]
pub fn names_document(id: &str) -> bool {
    id.starts_with("https://")
}

#[derive(Default)]
struct Entry {
    fresh_until: Option<Instant>,
    failed_at: Option<Instant>,
    failure: Option<String>,
}

/// Most documents cached per instance; beyond it, entries no request is using are dropped.
const MAX_ENTRIES: usize = 10_000;
/// Most fetches in flight at once.
const MAX_CONCURRENT: usize = 8;
/// Fetches per host and minute: a domain varying its paths makes the server fetch for it at this
/// pace, and no faster, without slowing anyone else's documents.
const FETCHES_PER_HOST: &str = "30/1m";

/// The per-instance cache of fetched documents, with what fetching and storing them needs.
pub struct Documents {
    /// The outbound client for self-described clients (`GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW`).
    outbound: Outbound,
    store: Arc<dyn Store>,
    /// The registration settings: the accepted hosts, and the `default` policy documents get.
    settings: Registration,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
    per_host: crate::protect::Limiter,
    in_flight: tokio::sync::Semaphore,
}

fn refused(url: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidClient(format!("the client metadata document {url} cannot be used: {why}").into())
}

/// The draft's rules for the URL (§3), and the operator's host allow-list.
fn check_url(url: &str, hosts: &[String]) -> Result<(), Error> {
    let parsed = url::Url::parse(url).map_err(|e| refused(url, format!("it is not a URL ({e})")))?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let dot_segment = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split('/')
        .any(|s| s == "." || s == "..");
    let why = if parsed.scheme() != "https" {
        Some("it must be https")
    } else if parsed.as_str() != url {
        // Percent-encoded dots, case or default ports would be resolved by the URL library: the
        // fetched document must be the one the client_id names, character for character.
        Some("it must be written in normal form (no encoded dot segments, lowercase host, no default port)")
    } else if parsed.query().is_some() {
        // §3 says SHOULD NOT; refusing it keeps one host from minting clients by query string.
        Some("it must not have a query string")
    } else if parsed.scheme() != "https" {
        Some("it must be https")
    } else if parsed.path() == "/" || parsed.path().is_empty() {
        Some("it must have a path (https://host/client.json)")
    } else if url.contains('#') {
        Some("it must not have a fragment")
    } else if !parsed.username().is_empty() || parsed.password().is_some() {
        Some("it must not hold a user name or password")
    } else if dot_segment {
        Some("it must not hold . or .. path segments")
    } else if !hosts.is_empty() && !hosts.contains(&host) {
        Some("its host is not one this server accepts documents from (GATEHOUSE_CLIENT_ID_METADATA_HOSTS)")
    } else {
        None
    };
    why.map_or(Ok(()), |w| Err(refused(url, w)))
}

impl Documents {
    /// A cache fetching through `outbound` and keeping clients in `store`.
    #[must_use]
    pub fn new(outbound: Outbound, store: Arc<dyn Store>, settings: Registration) -> Self {
        Self {
            outbound,
            store,
            settings,
            entries: Mutex::default(),
            per_host: crate::protect::Limiter::new(
                "metadata_fetches_per_host",
                crate::config::Limit::parse(FETCHES_PER_HOST).ok().flatten(),
            ),
            in_flight: tokio::sync::Semaphore::new(MAX_CONCURRENT),
        }
    }

    fn entry(&self, url: &str) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| Arc::strong_count(e) > 1);
        }
        Arc::clone(entries.entry(url.to_owned()).or_default())
    }

    /// The client the document at `id` describes, fetched if the cached version is not fresh.
    ///
    /// # Errors
    /// `invalid_client` naming why the document cannot be used; store errors.
    pub async fn resolve(&self, id: &ClientId, now: UnixTime) -> Result<ClientRecord, Error> {
        let url = id.as_str();
        // The operator registered this URL as a client_id: theirs, not a document's, whatever the
        // rules for documents say.
        let first = self.store.find_client(id).await.map_err(store_error)?;
        if let Some(c) = first.as_ref().filter(|c| c.origin != ClientOrigin::MetadataDocument) {
            return Ok(c.clone());
        }
        check_url(url, &self.settings.metadata_hosts)?;
        let entry = self.entry(url);
        let mut entry = entry.lock().await;
        let at = Instant::now();
        // One store read per request while the document is fresh; a second only when this request
        // waited for another that stored the client first.
        let stored = match first {
            Some(c) if entry.fresh_until.is_some_and(|f| at < f) => return Ok(c),
            None if entry.fresh_until.is_some_and(|f| at < f) => {
                match self.store.find_client(id).await.map_err(store_error)? {
                    Some(c) => return Ok(c),
                    None => None,
                }
            }
            other => other,
        };
        let usable_stale = |e: &Entry| e.fresh_until.is_some_and(|f| at < f + MAX_STALE);
        if entry.failed_at.is_some_and(|t| at.duration_since(t) < FAILURE_BACKOFF) {
            return match stored {
                Some(c) if usable_stale(&entry) => Ok(c),
                _ => Err(refused(
                    url,
                    entry.failure.as_deref().unwrap_or("it could not be fetched"),
                )),
            };
        }
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        if self.per_host.hit(&host).is_some() {
            return match stored {
                Some(c) if usable_stale(&entry) => Ok(c),
                _ => Err(refused(
                    url,
                    "too many documents were fetched from its host in the last minute; retry shortly",
                )),
            };
        }
        let fetched = match self.in_flight.acquire().await {
            Ok(_permit) => self.fetch(url).await,
            Err(_) => Err((
                "it could not be fetched".to_owned(),
                "the fetch queue is closed".to_owned(),
            )),
        };
        match fetched {
            Ok((metadata, ttl)) => {
                entry.fresh_until = Some(at + ttl);
                entry.failed_at = None;
                entry.failure = None;
                self.store_client(id, stored, metadata, now).await
            }
            Err((why, detail)) => {
                tracing::warn!(client_id = %url, error = %detail, "the client's metadata document could not be used");
                entry.failed_at = Some(at);
                entry.failure = Some(why.clone());
                match stored {
                    Some(c) if usable_stale(&entry) => Ok(c),
                    _ => Err(refused(url, why)),
                }
            }
        }
    }

    /// One fetch: the metadata and how long to use it; or why not, for the caller (in general
    /// terms: the caller may be probing the network) and in detail for the log.
    async fn fetch(&self, url: &str) -> Result<(ClientMetadata, Duration), (String, String)> {
        let both = |s: String| (s.clone(), s);
        let reply = self
            .outbound
            .get_at_most(url, "application/json", MAX_DOCUMENT)
            .await
            .map_err(|e| {
                let public = match &e {
                    OutboundError::Refused(_) => "its host is an internal address, which this server does not call",
                    OutboundError::Timeout => "it did not answer in time",
                    OutboundError::Failed(why) if why.contains("longer than") => "the document is larger than 5 KiB",
                    OutboundError::Failed(_) => "it could not be fetched",
                };
                (public.to_owned(), e.to_string())
            })?;
        if reply.status != 200 {
            return Err((
                "it did not answer 200 with the document (redirects are not followed)".to_owned(),
                format!("HTTP {}", reply.status),
            ));
        }
        let body: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| both(format!("it is not JSON ({e})")))?;
        let serde_json::Value::Object(members) = body else {
            return Err(both("it is not a JSON object".into()));
        };
        // §4.1: the document names itself.
        if members.get("client_id").and_then(|v| v.as_str()) != Some(url) {
            return Err(both("its client_id member is not its own URL".into()));
        }
        let policy = self.settings.default_policy();
        let metadata = ClientMetadata::parse(&members, policy, Source::Document).map_err(|e| both(e.description()))?;
        self.outbound
            .vet_metadata(&metadata)
            .await
            .map_err(|e| both(e.description()))?;
        let ttl = reply
            .max_age
            .map_or(DEFAULT_TTL, Duration::from_secs)
            .clamp(MIN_TTL, MAX_TTL);
        Ok((metadata, ttl))
    }

    /// Keeps the store's copy of the client in step with its document.
    async fn store_client(
        &self,
        id: &ClientId,
        stored: Option<ClientRecord>,
        metadata: ClientMetadata,
        now: UnixTime,
    ) -> Result<ClientRecord, Error> {
        let Some(old) = stored else {
            let mut fresh = ClientRecord::described(id.clone(), metadata, ClientOrigin::MetadataDocument, now);
            let policy = self.settings.default_policy();
            fresh.registration_policy = Some(policy.name.clone());
            fresh.resources.clone_from(&policy.resources);
            return match self.store.create_client(&fresh).await {
                Ok(()) => {
                    tracing::info!(target: "gatehouse::audit", event = "client.document_added", client_id = %id);
                    Ok(fresh)
                }
                // Another instance stored it first: theirs and ours come from the same document.
                Err(StoreError::Conflict(_)) => Ok(fresh),
                Err(e) => Err(store_error(e)),
            };
        };
        if old.metadata() == metadata {
            return Ok(old);
        }
        let mut new = old.clone();
        new.apply(metadata);
        let forget = new.shown_identity() != old.shown_identity();
        self.store
            .replace_client(&new, forget, None)
            .await
            .map_err(store_error)?;
        tracing::info!(target: "gatehouse::audit", event = "client.document_changed", client_id = %id, consent_forgotten = forget);
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_urls_follow_the_draft() {
        let ok = |u: &str| check_url(u, &[]).is_ok();
        assert!(ok("https://app.example/client.json"));
        assert!(ok("https://app.example:8443/oauth/client.json"));
        for bad in [
            "https://app.example",
            "https://app.example/",
            "https://app.example/a#b",
            "https://u:p@app.example/c",
            "https://app.example/a/../c",
            "https://app.example/./c",
            "http://app.example/c",
            "https://app.example/a/%2e%2e/c",
            "https://App.Example/c",
            "https://app.example:443/c",
            "https://app.example/c?v=1",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        let hosts = vec!["tools.example".to_owned()];
        assert!(check_url("https://tools.example/c.json", &hosts).is_ok());
        let e = check_url("https://evil.example/c.json", &hosts).unwrap_err();
        assert!(e.description().contains("GATEHOUSE_CLIENT_ID_METADATA_HOSTS"));
    }
}
