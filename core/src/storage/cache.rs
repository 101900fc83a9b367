//! The in-isolate verification cache: recent store answers for verification records,
//! positive and negative, keyed by the record's KV key (`k:{bucket}:{hash}`), so answers
//! never cross buckets.
//!
//! A hit answers without KV. Entries live `ttl_ms` (default 60 s) and the map holds at most
//! `capacity` entries; when full, expired entries go first, then an arbitrary one. A delete or
//! roll that runs in the same isolate calls [`VerifyCache::forget`], so its effect is
//! immediate there; other isolates see it within the TTL (documented in ARCHITECTURE.md).
//!
//! Methods take `&self` and never hold a borrow across an `.await`: the Worker serves
//! concurrent requests in one isolate, interleaved at await points.

use crate::storage::kv::KeyRecord;
use crate::timestamp::Millis;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Default number of entries.
pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
struct Entry {
    record: Option<Rc<KeyRecord>>,
    fresh_until: Millis,
}

/// What the cache knows about a key hash.
#[derive(Debug, Clone, PartialEq)]
pub enum Cached {
    /// Nothing fresh: ask the store.
    Miss,
    /// The store had no record for it.
    Absent,
    /// The store's record.
    Present(Rc<KeyRecord>),
}

/// A bounded map from verification-record KV key to the last store answer.
#[derive(Debug)]
pub struct VerifyCache {
    entries: RefCell<HashMap<String, Entry>>,
    /// Bumped by every [`VerifyCache::forget`]: a store read that started before a forget
    /// must not cache its (possibly stale) answer.
    generation: Cell<u64>,
    ttl_ms: Millis,
    capacity: usize,
}

impl VerifyCache {
    /// A cache whose entries live `ttl_seconds` and that holds at most `capacity` entries.
    /// A TTL of 0 disables caching.
    pub fn new(ttl_seconds: u32, capacity: usize) -> Self {
        VerifyCache {
            entries: RefCell::new(HashMap::new()),
            generation: Cell::new(0),
            ttl_ms: Millis::from(ttl_seconds) * 1000,
            capacity: capacity.max(1),
        }
    }

    /// The cached answer for `kv_key`, if still fresh at `now`.
    pub fn get(&self, kv_key: &str, now: Millis) -> Cached {
        let entries = self.entries.borrow();
        match entries.get(kv_key) {
            Some(e) if e.fresh_until > now => match &e.record {
                Some(r) => Cached::Present(Rc::clone(r)),
                None => Cached::Absent,
            },
            _ => Cached::Miss,
        }
    }

    /// Remembers the store's answer for `kv_key`.
    pub fn put(&self, kv_key: &str, record: Option<KeyRecord>, now: Millis) {
        if self.ttl_ms <= 0 {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= self.capacity && !entries.contains_key(kv_key) {
            entries.retain(|_, e| e.fresh_until > now);
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            kv_key.to_owned(),
            Entry {
                record: record.map(Rc::new),
                fresh_until: now + self.ttl_ms,
            },
        );
    }

    /// The current generation; pass it to [`VerifyCache::put_if_current`] after a store read.
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Like [`VerifyCache::put`], unless something was forgotten since `generation` was read:
    /// a delete or roll that ran while the store read was in flight wins over its answer.
    pub fn put_if_current(
        &self,
        kv_key: &str,
        record: Option<KeyRecord>,
        now: Millis,
        generation: u64,
    ) {
        if self.generation.get() == generation {
            self.put(kv_key, record, now);
        }
    }

    /// Drops what is known about `kv_key` (after a delete, roll or metadata change).
    pub fn forget(&self, kv_key: &str) {
        self.entries.borrow_mut().remove(kv_key);
        self.generation.set(self.generation.get() + 1);
    }

    /// Drops every entry (when more changed elsewhere than is worth naming one by one).
    pub fn clear(&self) {
        self.entries.borrow_mut().clear();
        self.generation.set(self.generation.get() + 1);
    }

    /// Number of entries, fresh or not.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> KeyRecord {
        KeyRecord {
            v: 1,
            consumer: "c".into(),
            key_id: "key_1".into(),
            metadata: Default::default(),
            expires_on: None,
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = VerifyCache::new(60, 10);
        c.put("h", Some(rec()), 1_000);
        assert!(matches!(c.get("h", 60_999), Cached::Present(_)));
        assert_eq!(c.get("h", 61_000), Cached::Miss);
        c.put("n", None, 0);
        assert_eq!(c.get("n", 1), Cached::Absent);
    }

    #[test]
    fn stays_within_capacity() {
        let c = VerifyCache::new(60, 3);
        for i in 0..10 {
            c.put(&format!("h{i}"), None, 0);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("h9", 1), Cached::Absent);
    }

    #[test]
    fn a_read_that_overlaps_a_forget_is_not_cached() {
        let c = VerifyCache::new(60, 10);
        let before_read = c.generation();
        c.forget("k:b:h"); // a delete in the same isolate while the read was in flight
        c.put_if_current("k:b:h", Some(rec()), 0, before_read);
        assert_eq!(c.get("k:b:h", 1), Cached::Miss);
        c.put_if_current("k:b:h", None, 0, c.generation());
        assert_eq!(c.get("k:b:h", 1), Cached::Absent);
    }

    #[test]
    fn forget_and_zero_ttl() {
        let c = VerifyCache::new(60, 3);
        c.put("h", None, 0);
        c.forget("h");
        assert_eq!(c.get("h", 1), Cached::Miss);
        let off = VerifyCache::new(0, 3);
        off.put("h", None, 0);
        assert!(off.is_empty());
    }
}
