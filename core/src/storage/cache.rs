//! The in-isolate verification cache: recent store answers for verification records,
//! positive and negative, keyed by the record's KV key (`k:{bucket}:{hash}`), so answers
//! never cross buckets.
//!
//! A hit answers without KV. Entries live `ttl_ms` (default 60 s) from when they were stored.
//! Present records and absent answers sit in two separate LRU partitions (the `lru` crate:
//! lookup, insert and eviction are O(1)), so a spray of forged keys — well-formed, with a valid
//! checksum, since the CRC is public — only churns the small absent partition and cannot push a
//! valid key out. The present partition is bounded in entries and in estimated bytes
//! ([`Limits`]): metadata of at most 1 KiB of JSON can take over ten times that in memory,
//! and an isolate has 128 MB. A hit refreshes an entry's recency, not its freshness.
//!
//! A delete or roll that runs in the same isolate calls [`VerifyCache::forget`], so its effect
//! is immediate there; other isolates see it within the TTL (documented in ARCHITECTURE.md).
//!
//! Methods take `&self` and never hold a borrow across an `.await`: the Worker serves
//! concurrent requests in one isolate, interleaved at await points.

use crate::storage::kv::KeyRecord;
use crate::timestamp::Millis;
use lru::LruCache;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::mem::size_of;
use std::rc::Rc;

/// How much each partition may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most present records.
    pub present: usize,
    /// Most bytes of present records, as [`VerifyCache::present_bytes`] estimates them; a
    /// record larger than this on its own is not cached.
    pub present_bytes: usize,
    /// Most absent answers.
    pub absent: usize,
}

impl Limits {
    /// 10,000 present records within 8 MiB, and 4,096 absent answers (about half a MiB).
    /// A record with a short consumer name and two metadata fields is estimated at about
    /// 950 bytes on a 64-bit host and, by the same formula, about 550 on wasm32 (half-size
    /// pointers), so in the Worker the entry bound binds first; the byte bound stops records whose metadata is large in memory
    /// (1 KiB of JSON can take 17 KB).
    pub const DEFAULT: Limits = Limits {
        present: 10_000,
        present_bytes: 8 << 20,
        absent: 4_096,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

#[derive(Debug)]
struct Present {
    record: Rc<KeyRecord>,
    fresh_until: Millis,
    /// This entry's share of `Partitions::present_bytes`.
    bytes: usize,
}

#[derive(Debug)]
struct Partitions {
    present: LruCache<String, Present>,
    present_bytes: usize,
    /// Absent answers: when each stops being fresh.
    absent: LruCache<String, Millis>,
}

impl Partitions {
    fn remove_present(&mut self, kv_key: &str) {
        if let Some(old) = self.present.pop(kv_key) {
            self.present_bytes -= old.bytes;
        }
    }
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
    partitions: RefCell<Partitions>,
    /// Bumped by every [`VerifyCache::forget`]: a store read that started before a forget
    /// must not cache its (possibly stale) answer.
    generation: Cell<u64>,
    ttl_ms: Millis,
    limits: Limits,
    /// The key prefix and `IMPORTED_KEY_PATTERN` the entries were made under
    /// ([`VerifyCache::scope`]): the edge answers a foreign key from the cache before running
    /// the pattern, which is sound only while both stay what they were.
    scope: RefCell<(String, Option<String>)>,
}

impl VerifyCache {
    /// A cache whose entries live `ttl_seconds`, within `limits`. A TTL of 0 disables caching.
    pub fn new(ttl_seconds: u32, limits: Limits) -> Self {
        VerifyCache {
            // Unbounded to the crate: the bounds are enforced here, with the byte count, and
            // the tables grow as entries come instead of being allocated up front.
            partitions: RefCell::new(Partitions {
                present: LruCache::unbounded(),
                present_bytes: 0,
                absent: LruCache::unbounded(),
            }),
            generation: Cell::new(0),
            ttl_ms: Millis::from(ttl_seconds) * 1000,
            limits,
            scope: RefCell::new((String::new(), None)),
        }
    }

    /// Binds the cache to the key prefix and `IMPORTED_KEY_PATTERN` of the verification
    /// about to use it: entries made under other ones are dropped first. (The Worker builds a
    /// new cache when its settings change; this keeps any other caller from answering a key
    /// with an entry its settings would not have let it look up.)
    pub fn scope(&self, prefix: &str, pattern: Option<&str>) {
        let same = {
            let s = self.scope.borrow();
            s.0 == prefix && s.1.as_deref() == pattern
        };
        if !same {
            self.clear();
            *self.scope.borrow_mut() = (prefix.to_owned(), pattern.map(str::to_owned));
        }
    }

    /// The cached answer for `kv_key`, if still fresh at `now`; a hit becomes the most
    /// recently used entry of its partition, and a stale entry found here is dropped.
    pub fn get(&self, kv_key: &str, now: Millis) -> Cached {
        let mut p = self.partitions.borrow_mut();
        match p.present.get(kv_key) {
            Some(e) if e.fresh_until > now => return Cached::Present(Rc::clone(&e.record)),
            Some(_) => {
                p.remove_present(kv_key);
                return Cached::Miss;
            }
            None => {}
        }
        match p.absent.get(kv_key) {
            Some(&fresh_until) if fresh_until > now => Cached::Absent,
            Some(_) => {
                p.absent.pop(kv_key);
                Cached::Miss
            }
            None => Cached::Miss,
        }
    }

    /// Remembers the store's answer for `kv_key`, replacing any answer of the other kind, and
    /// evicts the least recently used entries of that partition until it is within its limits.
    pub fn put(&self, kv_key: &str, record: Option<KeyRecord>, now: Millis) {
        if self.ttl_ms <= 0 {
            return;
        }
        let fresh_until = now + self.ttl_ms;
        let mut p = self.partitions.borrow_mut();
        let Some(record) = record else {
            p.remove_present(kv_key);
            p.absent.push(kv_key.to_owned(), fresh_until);
            while p.absent.len() > self.limits.absent {
                p.absent.pop_lru();
            }
            return;
        };
        p.absent.pop(kv_key);
        let bytes = present_bytes(kv_key, &record);
        if bytes > self.limits.present_bytes {
            // Too large to cache at all; an older answer must not outlive this one either.
            p.remove_present(kv_key);
            return;
        }
        let entry = Present {
            record: Rc::new(record),
            fresh_until,
            bytes,
        };
        // The crate's partition is unbounded, so `push` only ever hands back this key's old entry.
        if let Some((_, old)) = p.present.push(kv_key.to_owned(), entry) {
            p.present_bytes -= old.bytes;
        }
        p.present_bytes += bytes;
        while p.present.len() > self.limits.present || p.present_bytes > self.limits.present_bytes {
            let Some((_, evicted)) = p.present.pop_lru() else {
                break;
            };
            p.present_bytes -= evicted.bytes;
        }
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
        let mut p = self.partitions.borrow_mut();
        p.remove_present(kv_key);
        p.absent.pop(kv_key);
        self.generation.set(self.generation.get() + 1);
    }

    /// Drops every entry (when more changed elsewhere than is worth naming one by one).
    pub fn clear(&self) {
        let mut p = self.partitions.borrow_mut();
        p.present.clear();
        p.present_bytes = 0;
        p.absent.clear();
        self.generation.set(self.generation.get() + 1);
    }

    /// Number of entries in both partitions, fresh or not.
    pub fn len(&self) -> usize {
        let p = self.partitions.borrow();
        p.present.len() + p.absent.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated bytes held by present records (what [`Limits::present_bytes`] bounds).
    pub fn present_bytes(&self) -> usize {
        self.partitions.borrow().present_bytes
    }
}

/// What one present entry costs beyond its strings and metadata, from the sizes of its parts
/// on this target: the LRU's node (key, value, two links), its hash-table slot (two pointers
/// and a control byte; the table doubles as it grows, so count two slots), and the shared
/// record (two reference counts and the struct). Allocator headers are left out.
const PRESENT_OVERHEAD: usize = size_of::<String>()
    + size_of::<Present>()
    + 2 * size_of::<usize>()
    + 2 * (2 * size_of::<usize>() + 1)
    + 2 * size_of::<usize>()
    + size_of::<KeyRecord>();

/// One B-tree node of a JSON object (serde_json's map is a `BTreeMap`): eleven key and value
/// slots, a parent link and two indexes.
const OBJECT_NODE: usize = 11 * (size_of::<String>() + size_of::<Value>()) + size_of::<usize>() + 4;

/// The estimated size of a present entry for `kv_key`. Checked once against a counting
/// allocator (64-bit host, 10,000 records with no, small, nested and 1 KiB metadata): within
/// 3 % of the heap bytes actually allocated.
fn present_bytes(kv_key: &str, record: &KeyRecord) -> usize {
    PRESENT_OVERHEAD
        + kv_key.len()
        + record.consumer.len()
        + record.key_id.len()
        + object_bytes(&record.metadata)
}

/// Heap bytes of a JSON object. Its text length would undercount: `[0,0,…]` spends two bytes
/// of text per value and a whole `Value` in memory. Nodes are counted about half full, as
/// sorted inserts (KV's JSON is written from a sorted map) leave them.
fn object_bytes(map: &Map<String, Value>) -> usize {
    map.len().div_ceil(6) * OBJECT_NODE
        + map
            .iter()
            .map(|(k, v)| k.len() + value_heap_bytes(v))
            .sum::<usize>()
}

/// Heap bytes owned by `value` beyond its own slot. Depth is bounded by serde_json's
/// recursion limit when the record was read.
fn value_heap_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(a) => {
            a.len() * size_of::<Value>() + a.iter().map(value_heap_bytes).sum::<usize>()
        }
        Value::Object(m) => object_bytes(m),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
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

    fn limits(present: usize, absent: usize) -> Limits {
        Limits {
            present,
            present_bytes: usize::MAX,
            absent,
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = VerifyCache::new(60, Limits::default());
        c.put("h", Some(rec()), 1_000);
        assert!(matches!(c.get("h", 60_999), Cached::Present(_)));
        assert_eq!(c.get("h", 61_000), Cached::Miss);
        assert_eq!(c.len(), 0, "a stale entry found by get is dropped");
        c.put("n", None, 0);
        assert_eq!(c.get("n", 1), Cached::Absent);
        assert_eq!(c.get("n", 60_000), Cached::Miss);
        assert!(c.is_empty());
    }

    #[test]
    fn stays_within_capacity() {
        let c = VerifyCache::new(60, limits(3, 2));
        for i in 0..10 {
            c.put(&format!("p{i}"), Some(rec()), 0);
            c.put(&format!("n{i}"), None, 0);
        }
        assert_eq!(c.len(), 5);
        assert!(matches!(c.get("p9", 1), Cached::Present(_)));
        assert_eq!(c.get("n9", 1), Cached::Absent);
        assert_eq!(c.get("p6", 1), Cached::Miss);
        assert_eq!(c.get("n7", 1), Cached::Miss);
    }

    #[test]
    fn a_valid_key_survives_a_spray_of_unknown_keys() {
        let c = VerifyCache::new(60, Limits::default());
        c.put("k:default:valid", Some(rec()), 0);
        for i in 0..100_000 {
            c.put(&format!("k:default:forged-{i}"), None, 0);
            assert!(c.len() <= 1 + Limits::DEFAULT.absent);
        }
        assert!(matches!(c.get("k:default:valid", 1), Cached::Present(_)));
        assert_eq!(c.get("k:default:forged-99999", 1), Cached::Absent);
        assert_eq!(c.get("k:default:forged-0", 1), Cached::Miss);
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let c = VerifyCache::new(60, limits(3, 3));
        for k in ["a", "b", "c"] {
            c.put(k, Some(rec()), 0);
            c.put(&format!("n{k}"), None, 0);
        }
        // Reading `a` makes `b` the least recently used; storing `c` again makes it recent.
        assert!(matches!(c.get("a", 1), Cached::Present(_)));
        assert_eq!(c.get("na", 1), Cached::Absent);
        c.put("c", Some(rec()), 0);
        c.put("d", Some(rec()), 0);
        c.put("nd", None, 0);
        assert_eq!(c.get("b", 1), Cached::Miss);
        assert_eq!(c.get("nb", 1), Cached::Miss);
        for k in ["a", "c", "d"] {
            assert!(matches!(c.get(k, 1), Cached::Present(_)), "{k}");
            assert_eq!(c.get(&format!("n{k}"), 1), Cached::Absent, "n{k}");
        }
    }

    #[test]
    fn present_records_stay_within_the_byte_bound() {
        let one = present_bytes("k0", &rec());
        let c = VerifyCache::new(
            60,
            Limits {
                present: 100,
                present_bytes: 3 * one + one / 2,
                absent: 10,
            },
        );
        for i in 0..10 {
            c.put(&format!("k{i}"), Some(rec()), 0);
            assert!(c.present_bytes() <= 3 * one + one / 2);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.present_bytes(), 3 * one);
        assert!(matches!(c.get("k9", 1), Cached::Present(_)));
        assert_eq!(c.get("k6", 1), Cached::Miss);

        // A record larger than the whole bound is not cached, and replaces the older answer.
        let mut big = rec();
        big.metadata
            .insert("notes".into(), Value::String("x".repeat(4 * one)));
        c.put("k9", Some(big), 0);
        assert_eq!(c.get("k9", 1), Cached::Miss);
        assert_eq!(c.present_bytes(), 2 * one);

        c.forget("k8");
        assert_eq!(c.present_bytes(), one);
        c.clear();
        assert_eq!(c.present_bytes(), 0);
    }

    #[test]
    fn a_new_answer_replaces_the_other_kind() {
        let c = VerifyCache::new(60, Limits::default());
        c.put("h", None, 0);
        c.put("h", Some(rec()), 0);
        assert!(matches!(c.get("h", 1), Cached::Present(_)));
        assert_eq!(c.len(), 1);
        c.put("h", None, 0);
        assert_eq!(c.get("h", 1), Cached::Absent);
        assert_eq!((c.len(), c.present_bytes()), (1, 0));
    }

    #[test]
    fn metadata_is_counted_by_what_it_holds_in_memory() {
        let mut small = rec();
        small.metadata.insert("plan".into(), "gold".into());
        let mut many = rec();
        many.metadata
            .insert("a".into(), Value::Array(vec![Value::from(0); 300]));
        let base = present_bytes("k", &rec());
        assert!(present_bytes("k", &small) > base + "plangold".len());
        // 300 values are ~600 bytes of JSON and 300 `Value`s in memory.
        assert!(present_bytes("k", &many) >= base + 300 * size_of::<Value>());
    }

    #[test]
    fn a_read_that_overlaps_a_forget_is_not_cached() {
        let c = VerifyCache::new(60, Limits::default());
        let before_read = c.generation();
        c.forget("k:b:h"); // a delete in the same isolate while the read was in flight
        c.put_if_current("k:b:h", Some(rec()), 0, before_read);
        assert_eq!(c.get("k:b:h", 1), Cached::Miss);
        c.put_if_current("k:b:h", None, 0, c.generation());
        assert_eq!(c.get("k:b:h", 1), Cached::Absent);
    }

    #[test]
    fn forget_and_zero_ttl() {
        let c = VerifyCache::new(60, Limits::default());
        c.put("h", None, 0);
        c.put("p", Some(rec()), 0);
        c.forget("h");
        c.forget("p");
        assert_eq!(c.get("h", 1), Cached::Miss);
        assert_eq!(c.get("p", 1), Cached::Miss);
        assert_eq!((c.len(), c.present_bytes()), (0, 0));
        let off = VerifyCache::new(0, Limits::default());
        off.put("h", None, 0);
        off.put("p", Some(rec()), 0);
        assert!(off.is_empty());
    }
}
