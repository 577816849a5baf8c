//! Client records cached in the server, for both stores.
//!
//! Every token, introspection and revocation request authenticates a client, so its record is read
//! far more often than it changes. What keeps the cache honest differs by store: on PostgreSQL a
//! LISTEN connection drops the entry a trigger names (`postgres/cache.rs`) and the cache is used only
//! while that connection is up; on SQLite each lookup first reads a count of changes a trigger keeps
//! (migration 015) and drops every entry when it moved ([`ClientCache::follow`]). Either way a
//! change made by any process (the CLI, another instance) is seen by the next lookup that starts
//! after it. A load that raced a change is not kept (a generation counter is compared before and
//! after).

use crate::model::ClientRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Most cached clients; past this the cache starts over (a deployment with more clients than this
/// still works, it just reads more of them from the database).
const MAX_ENTRIES: usize = 10_000;

pub struct ClientCache {
    entries: Mutex<HashMap<String, ClientRecord>>,
    /// Bumped by every invalidation; a load is kept only if it did not change meanwhile.
    generation: AtomicU64,
    /// Entries are used (PostgreSQL: the listening connection is up).
    live: AtomicBool,
    /// SQLite: the count of client changes the entries were loaded at.
    changes: AtomicI64,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            changes: AtomicI64::new(i64::MIN),
        }
    }
}

impl ClientCache {
    /// The cached record, when the cache is live.
    pub fn get(&self, id: &str) -> Option<ClientRecord> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        self.entries.lock().ok()?.get(id).cloned()
    }

    /// Whether entries are used.
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

    /// SQLite: the store's count of client changes, read just now, before the lookup. When it is
    /// not the count the entries were loaded at, they are all dropped. (A lookup that read an
    /// older count than a concurrent one may set it back; the next lookup drops entries again, and
    /// what it kept meanwhile was loaded after the older count was read.)
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
