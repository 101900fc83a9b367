//! Key verification: format and checksum first (no I/O), then the cache, then one KV read.
//!
//! The order is the same as Zuplo's policy and is what keeps garbage cheap: a malformed key
//! or a bad checksum never reaches the store, and a cache miss costs exactly one read of
//! `k:{bucket}:{hash}`, whose record carries everything the edge forwards. A key that is
//! not a keyward key but matches `IMPORTED_KEY_PATTERN` (keys imported from Zuplo) has no
//! checksum keyward can check: it goes to the cache and the read like any other.
//!
//! For such a foreign key the cache is asked before the pattern runs: an entry exists only
//! for a key that passed `start` (ours, or matching) under the prefix and pattern the cache
//! is bound to (`VerifyCache::scope` drops every entry when they change). So an imported key
//! answered from the cache costs what a native one does (the expression took four times the
//! rest of a cache hit), and the pattern still runs before any read. The price: with a
//! pattern set, a string that fails it is hashed before the pattern refuses it (a few µs, no
//! read, nothing cached).

use crate::error::Error;
use crate::key;
use crate::key::hash::KeyHasher;
use crate::key::imported::{check_supplied, Pattern};
use crate::storage::cache::{Cached, VerifyCache};
use crate::storage::kv::{self, KeyRecord};
use crate::storage::store::Store;
use crate::timestamp::Millis;
use serde::Serialize;
use std::rc::Rc;

/// The outcome code of a verification, as the `verify` endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// The key is valid now.
    Valid,
    /// Not a keyward key of this deployment's prefix (or its checksum is wrong), nor a key
    /// matching `IMPORTED_KEY_PATTERN`.
    Malformed,
    /// No such key in the bucket (never created, or deleted).
    NotFound,
    /// The key existed but its expiry has passed.
    Expired,
    /// `POST /v1/verify` with `consume`: the key is valid and its consumer's rate limit is
    /// spent (never an edge verdict: the edge answers 429).
    RateLimited,
    /// Likewise for the consumer's quota.
    QuotaExceeded,
}

/// The result of verifying a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Valid: who it belongs to.
    Valid(Rc<KeyRecord>),
    /// Rejected before any storage read.
    Malformed,
    /// No record.
    NotFound,
    /// A record whose expiry has passed.
    Expired(Rc<KeyRecord>),
}

impl Verdict {
    /// The code of this verdict.
    pub fn code(&self) -> Code {
        match self {
            Verdict::Valid(_) => Code::Valid,
            Verdict::Malformed => Code::Malformed,
            Verdict::NotFound => Code::NotFound,
            Verdict::Expired(_) => Code::Expired,
        }
    }
}

/// Verifies keys of one prefix against one bucket.
pub struct Verifier<'a, S> {
    /// The store holding verification records.
    pub store: &'a S,
    /// Hashes keys.
    pub hasher: &'a KeyHasher,
    /// Recent answers.
    pub cache: &'a VerifyCache,
    /// The bucket to look in.
    pub bucket: &'a str,
    /// The deployment's key prefix; keys of another prefix are malformed here.
    pub prefix: &'a str,
    /// Foreign keys that are looked up without a checksum (`IMPORTED_KEY_PATTERN`).
    pub imported: Option<&'a Pattern>,
}

/// Where a verification stands after the checks that need no I/O.
#[derive(Debug)]
pub enum Step {
    /// Decided without the store (malformed, or answered by the cache).
    Done(Verdict),
    /// Needs one store read: pass it to [`Verifier::finish`].
    Read(Pending),
}

/// A verification waiting for its store read.
#[derive(Debug)]
pub struct Pending {
    kv_key: String,
    /// The cache generation before the read (see [`VerifyCache::put_if_current`]).
    generation: u64,
}

fn judge(record: Option<Rc<KeyRecord>>, now: Millis) -> Verdict {
    match record {
        None => Verdict::NotFound,
        Some(r) if r.expires_on.is_some_and(|t| t <= now) => Verdict::Expired(r),
        Some(r) => Verdict::Valid(r),
    }
}

impl<S: Store> Verifier<'_, S> {
    /// Verifies `key` at time `now`.
    pub async fn verify(&self, key: &str, now: Millis) -> Result<Verdict, Error> {
        match self.start(key, now) {
            Step::Done(verdict) => Ok(verdict),
            Step::Read(pending) => self.finish(pending, now).await,
        }
    }

    /// The checks without I/O: format, prefix and checksum; for a foreign key, the cache and
    /// then (on a miss) the imported pattern; else the cache.
    /// The gateway stops here when a client may not cause another store read
    /// (`UNKNOWN_KEY_LIMIT`).
    pub fn start(&self, key: &str, now: Millis) -> Step {
        let ours = key::format::parse(key).is_ok_and(|p| p.prefix() == self.prefix);
        // Without a pattern, or for a string no supplied key can be, nothing to hash.
        let foreign = match self.imported {
            Some(pattern) if !ours && check_supplied(key).is_ok() => Some(pattern),
            _ => None,
        };
        if !ours && foreign.is_none() {
            return Step::Done(Verdict::Malformed);
        }
        self.cache
            .scope(self.prefix, self.imported.map(Pattern::source));
        let kv_key = kv::keys::key_hash(self.bucket, &self.hasher.hash(key));
        match self.cache.get(&kv_key, now) {
            Cached::Present(r) => Step::Done(judge(Some(r), now)),
            Cached::Absent => Step::Done(Verdict::NotFound),
            Cached::Miss if foreign.is_some_and(|p| !p.matches(key)) => {
                Step::Done(Verdict::Malformed)
            }
            Cached::Miss => Step::Read(Pending {
                kv_key,
                generation: self.cache.generation(),
            }),
        }
    }

    /// The store read [`Verifier::start`] asked for; its answer is cached.
    pub async fn finish(&self, pending: Pending, now: Millis) -> Result<Verdict, Error> {
        let Pending { kv_key, generation } = pending;
        let record = match self.store.get(&kv_key).await? {
            Some(text) => Some(kv::decode::<KeyRecord>(&kv_key, &text)?),
            None => None,
        };
        self.cache
            .put_if_current(&kv_key, record.clone(), now, generation);
        Ok(judge(record.map(Rc::new), now))
    }
}
