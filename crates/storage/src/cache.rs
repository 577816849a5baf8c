//! What the server keeps in memory from the store, for both backends: client records, and the
//! JWT access tokens known not to be revoked.
//!
//! Every token, introspection and revocation request authenticates a client, and every
//! introspection or userinfo call with a JWT access token asks whether it was revoked (issue 20:
//! those tokens are never stored, what revokes them is). Both answers are read far more often than
//! they change. What keeps a [`Cache`] honest differs by store:
//! - on PostgreSQL a LISTEN connection (`postgres/cache.rs`) drops what a trigger names: one client,
//!   or every "not revoked" answer; the caches are used only while that connection is up, and a
//!   revocation made through the store clears its own instance's answers at once
//!   ([`Cache::clear`]), before the request that made it is answered;
//! - on SQLite each lookup first reads a count of changes triggers keep (migrations 015 and 016)
//!   and drops every entry when it moved ([`Cache::follow`]).
//!
//! Either way a change made by any process (the CLI, another instance) is seen by the next lookup
//! that starts after it (on PostgreSQL, after its notification arrives: milliseconds). A load that
//! raced a change is not kept (a generation counter is compared before and after). Only answers
//! that a later change can make wrong are cached this way; the revocation cache holds "not
//! revoked" alone, since nothing un-revokes a token.

use crate::model::{AccessTokenRecord, ClientRecord};
use gatehouse_protocol::types::TokenHash;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Client records by id.
pub type ClientCache = Cache<String, ClientRecord>;
/// JWT access tokens found not revoked, by [`revocation_key`].
pub type RevocationCache = Cache<TokenHash, ()>;

/// Most cached clients; past this the cache starts over (a deployment with more clients than this
/// still works, it just reads more of them from the database).
pub const CLIENTS_MAX: usize = 10_000;
/// Most cached "not revoked" answers (about 60 bytes each).
pub const REVOCATIONS_MAX: usize = 100_000;

/// The key of a revocation answer: a digest of everything the check reads (the `jti`'s hash, the
/// grant, the user, the issue time and the client), so an answer is reused only for the same
/// question. In the server the `jti` alone decides the rest, since all of it is signed together.
#[must_use]
pub fn revocation_key(token: &AccessTokenRecord, issued_ms: i64) -> TokenHash {
    use std::fmt::Write;
    let mut text = String::with_capacity(160);
    for byte in token.hash.as_bytes() {
        let _ = write!(text, "{byte:02x}");
    }
    let _ = write!(text, "|{issued_ms}");
    for field in [
        token.grant_id.as_deref(),
        token.subject.as_deref(),
        Some(token.client_id.as_str()),
    ] {
        let _ = match field {
            None => write!(text, "|-"),
            Some(v) => write!(text, "|{}:{v}", v.len()),
        };
    }
    TokenHash::of(&text)
}

pub struct Cache<K, V> {
    entries: Mutex<HashMap<K, V>>,
    /// Past this many entries the cache starts over.
    max: usize,
    /// Bumped by every invalidation; a load is kept only if it did not change meanwhile.
    generation: AtomicU64,
    /// Entries are used (PostgreSQL: the listening connection is up).
    live: AtomicBool,
    /// SQLite: the count of changes the entries were loaded at.
    changes: AtomicI64,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self::new(CLIENTS_MAX)
    }
}

impl Default for RevocationCache {
    fn default() -> Self {
        Self::new(REVOCATIONS_MAX)
    }
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    /// An empty cache of at most `max` entries, not live.
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self {
            entries: Mutex::default(),
            max,
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            changes: AtomicI64::new(i64::MIN),
        }
    }

    /// The cached value, when the cache is live.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        self.entries.lock().ok()?.get(key).cloned()
    }

    /// Whether entries are used.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// The generation to pass to [`Self::put`] after loading.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps a value loaded when the generation was `seen`, unless something changed since.
    pub fn put(&self, seen: u64, key: K, value: V) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock()
            && self.generation.load(Ordering::Acquire) == seen
        {
            if entries.len() >= self.max {
                entries.clear();
            }
            entries.insert(key, value);
        }
    }

    /// The entry for `key`, or what `load` finds, kept when it is `Some` and nothing changed
    /// while it loaded. The load is a future not yet polled, so the generation is read first.
    pub async fn through<Q>(
        &self,
        key: &Q,
        load: impl Future<Output = crate::traits::StoreResult<Option<V>>>,
    ) -> crate::traits::StoreResult<Option<V>>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Eq + Hash + ?Sized,
    {
        if let Some(hit) = self.get(key) {
            return Ok(Some(hit));
        }
        let seen = self.generation();
        let found = load.await?;
        if let Some(v) = &found {
            self.put(seen, key.to_owned(), v.clone());
        }
        Ok(found)
    }

    /// Forgets one entry (a notification, or a change made through this store).
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.remove(key);
        }
    }

    /// Forgets everything, live or not (a notification, or a change made through this store).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    /// SQLite: the store's count of changes, read just now, before the lookup. When it is not the
    /// count the entries were loaded at, they are all dropped. (A lookup that read an older count
    /// than a concurrent one may set it back; the next lookup drops entries again, and what it
    /// kept meanwhile was loaded after the older count was read.)
    pub fn follow(&self, changes: i64) {
        if self.changes.swap(changes, Ordering::AcqRel) != changes || !self.is_live() {
            self.reset(true);
        }
    }

    /// Forgets everything and sets whether the cache may be used (SQLite: `false` while the count
    /// of changes cannot be read, so the next count read starts afresh).
    pub fn reset(&self, live: bool) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
            self.live.store(live, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_raced_a_change_is_not_kept() {
        let cache = RevocationCache::new(4);
        cache.reset(true);
        let seen = cache.generation();
        cache.clear();
        cache.put(seen, TokenHash::of("a"), ());
        assert_eq!(cache.get(&TokenHash::of("a")), None);
        cache.put(cache.generation(), TokenHash::of("a"), ());
        assert_eq!(cache.get(&TokenHash::of("a")), Some(()));
    }

    #[test]
    fn clear_keeps_a_cache_that_is_not_live_unused() {
        let cache = RevocationCache::new(4);
        cache.clear();
        cache.put(cache.generation(), TokenHash::of("a"), ());
        assert_eq!(cache.get(&TokenHash::of("a")), None, "cached while not live");
    }

    #[test]
    fn a_revocation_key_covers_every_field_the_check_reads() {
        let t = crate::conformance::access("j", "app", Some("g"), gatehouse_protocol::types::UnixTime(9));
        let key = revocation_key(&t, 1);
        assert_eq!(key, revocation_key(&t.clone(), 1));
        assert_ne!(key, revocation_key(&t, 2));
        let other = |f: fn(&mut AccessTokenRecord)| {
            let mut o = t.clone();
            f(&mut o);
            revocation_key(&o, 1)
        };
        assert_ne!(key, other(|o| o.hash = TokenHash::of("k")));
        assert_ne!(key, other(|o| o.grant_id = None));
        assert_ne!(key, other(|o| o.subject = None));
        assert_ne!(
            key,
            other(|o| o.client_id = gatehouse_protocol::types::ClientId::from_stored("app2".into()))
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = RevocationCache::new(2);
        cache.reset(true);
        for k in ["a", "b", "c"] {
            cache.put(cache.generation(), TokenHash::of(k), ());
        }
        assert_eq!(cache.get(&TokenHash::of("a")), None);
        assert_eq!(cache.get(&TokenHash::of("c")), Some(()));
    }
}
