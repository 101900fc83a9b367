//! Key verification: format and checksum first (no I/O), then the cache, then one KV read.
//!
//! The order is the same as Zuplo's policy and is what keeps garbage cheap: a malformed key
//! or a bad checksum never reaches the store, and a cache miss costs exactly one read of
//! `k:{bucket}:{hash}`, whose record carries everything the edge forwards.

use crate::error::Error;
use crate::key;
use crate::key::hash::KeyHasher;
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
    /// Not a keyward key of this deployment's prefix, or its checksum is wrong.
    Malformed,
    /// No such key in the bucket (never created, or deleted).
    NotFound,
    /// The key existed but its expiry has passed.
    Expired,
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
}

impl<S: Store> Verifier<'_, S> {
    /// Verifies `key` at time `now`.
    pub async fn verify(&self, key: &str, now: Millis) -> Result<Verdict, Error> {
        let Ok(parsed) = key::format::parse(key) else {
            return Ok(Verdict::Malformed);
        };
        if parsed.prefix() != self.prefix {
            return Ok(Verdict::Malformed);
        }
        let kv_key = kv::keys::key_hash(self.bucket, &self.hasher.hash(key));
        let record = match self.cache.get(&kv_key, now) {
            Cached::Present(r) => Some(r),
            Cached::Absent => None,
            Cached::Miss => {
                let generation = self.cache.generation();
                let record = match self.store.get(&kv_key).await? {
                    Some(text) => Some(kv::decode::<KeyRecord>(&kv_key, &text)?),
                    None => None,
                };
                self.cache
                    .put_if_current(&kv_key, record.clone(), now, generation);
                record.map(Rc::new)
            }
        };
        Ok(match record {
            None => Verdict::NotFound,
            Some(r) if r.expires_on.is_some_and(|t| t <= now) => Verdict::Expired(r),
            Some(r) => Verdict::Valid(r),
        })
    }
}
