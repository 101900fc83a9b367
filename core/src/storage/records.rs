//! Reading and writing keyward's records through a [`Store`], in a crash-safe order.
//!
//! A consumer record is the source of truth; the verification records of its keys
//! (`k:…`) and its manager-index entries (`m:…`) are derived from it. [`consumer_writes`]
//! turns a change (before → after) into an ordered list of writes:
//!
//! 1. removed keys' verification records and removed managers' index entries are deleted;
//! 2. changed verification records (metadata or expiry) and added index entries are written;
//! 3. the consumer record is written;
//! 4. new keys' verification records are written.
//!
//! So an interruption at any point either leaves the old consumer record (and running the
//! change again redoes every step, all idempotent) or the new one with only new keys'
//! records missing — never a key that verifies but is listed by no consumer. Deleting a
//! consumer removes everything derived first and the record last.

use crate::error::Error;
use crate::storage::cache::VerifyCache;
use crate::storage::kv::{self, BucketRecord, ConsumerRecord};
use crate::storage::store::Store;
use serde_json::Value;
use std::collections::BTreeSet;

/// One storage write.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Put `value` (and `metadata`) at `key`.
    Put {
        /// KV key.
        key: String,
        /// Value.
        value: String,
        /// KV metadata.
        metadata: Option<Value>,
    },
    /// Delete `key`.
    Delete {
        /// KV key.
        key: String,
    },
}

impl Write {
    fn key(&self) -> &str {
        match self {
            Write::Put { key, .. } | Write::Delete { key } => key,
        }
    }
}

/// Applies `writes` in order, dropping each touched verification record from `cache`.
pub async fn apply<S: Store>(
    store: &S,
    cache: &VerifyCache,
    writes: &[Write],
) -> Result<(), Error> {
    for w in writes {
        match w {
            Write::Put {
                key,
                value,
                metadata,
            } => store.put(key, value, metadata.as_ref()).await?,
            Write::Delete { key } => store.delete(key).await?,
        }
        cache.forget(w.key());
    }
    Ok(())
}

fn put(key: String, value: String, metadata: Option<Value>) -> Write {
    Write::Put {
        key,
        value,
        metadata,
    }
}

fn consumer_put(bucket: &str, c: &ConsumerRecord) -> Write {
    // The index is a small struct of strings: serializing it cannot fail.
    let metadata = serde_json::to_value(c.index()).ok();
    put(kv::keys::consumer(bucket, &c.name), kv::encode(c), metadata)
}

/// The ordered writes that turn consumer `before` (absent = new) into `after`.
/// Returns no writes when nothing stored would change.
pub fn consumer_writes(
    bucket: &str,
    before: Option<&ConsumerRecord>,
    after: &ConsumerRecord,
) -> Vec<Write> {
    let mut writes = Vec::new();
    let old_emails: BTreeSet<&str> = before
        .map(|b| b.managers.iter().map(|m| m.email.as_str()).collect())
        .unwrap_or_default();
    let new_emails: BTreeSet<&str> = after.managers.iter().map(|m| m.email.as_str()).collect();
    let old_keys = before.map(|b| b.keys.as_slice()).unwrap_or_default();

    // 1. Removals.
    for k in old_keys
        .iter()
        .filter(|k| !after.keys.iter().any(|n| n.hash == k.hash))
    {
        writes.push(Write::Delete {
            key: kv::keys::key_hash(bucket, &k.hash),
        });
    }
    for email in old_emails.difference(&new_emails) {
        writes.push(Write::Delete {
            key: kv::keys::manager(bucket, email, &after.name),
        });
    }
    // 2. Changed derived entries.
    for k in &after.keys {
        if let Some(old) = old_keys.iter().find(|o| o.hash == k.hash) {
            let before = before.map(|b| b.key_record(old));
            let record = after.key_record(k);
            if before.as_ref() != Some(&record) {
                writes.push(put(
                    kv::keys::key_hash(bucket, &k.hash),
                    kv::encode(&record),
                    None,
                ));
            }
        }
    }
    for email in new_emails.difference(&old_emails) {
        writes.push(put(
            kv::keys::manager(bucket, email, &after.name),
            String::new(),
            None,
        ));
    }
    // 3. The record itself.
    if before != Some(after) {
        writes.push(consumer_put(bucket, after));
    }
    // 4. New keys.
    for k in after
        .keys
        .iter()
        .filter(|k| !old_keys.iter().any(|o| o.hash == k.hash))
    {
        writes.push(put(
            kv::keys::key_hash(bucket, &k.hash),
            kv::encode(&after.key_record(k)),
            None,
        ));
    }
    writes
}

/// The ordered writes that delete consumer `c`: derived entries first, the record last.
pub fn consumer_delete_writes(bucket: &str, c: &ConsumerRecord) -> Vec<Write> {
    let mut writes: Vec<Write> = c
        .keys
        .iter()
        .map(|k| Write::Delete {
            key: kv::keys::key_hash(bucket, &k.hash),
        })
        .collect();
    writes.extend(c.managers.iter().map(|m| Write::Delete {
        key: kv::keys::manager(bucket, &m.email, &c.name),
    }));
    writes.push(Write::Delete {
        key: kv::keys::consumer(bucket, &c.name),
    });
    writes
}

/// Saves a change of consumer `before` → `after` (see the module docs for the order).
pub async fn save_consumer<S: Store>(
    store: &S,
    cache: &VerifyCache,
    bucket: &str,
    before: Option<&ConsumerRecord>,
    after: &ConsumerRecord,
) -> Result<(), Error> {
    apply(store, cache, &consumer_writes(bucket, before, after)).await
}

/// Deletes consumer `c` and everything derived from it.
pub async fn delete_consumer<S: Store>(
    store: &S,
    cache: &VerifyCache,
    bucket: &str,
    c: &ConsumerRecord,
) -> Result<(), Error> {
    apply(store, cache, &consumer_delete_writes(bucket, c)).await
}

/// The bucket `name`, or a 404 error.
pub async fn bucket<S: Store>(store: &S, name: &str) -> Result<BucketRecord, Error> {
    let key = kv::keys::bucket(name);
    match store.get(&key).await? {
        Some(text) => kv::decode(&key, &text),
        None => Err(Error::not_found(format!("bucket '{name}' does not exist"))),
    }
}

/// Writes a bucket record.
pub async fn put_bucket<S: Store>(store: &S, bucket: &BucketRecord) -> Result<(), Error> {
    store
        .put(&kv::keys::bucket(&bucket.name), &kv::encode(bucket), None)
        .await
}

/// The consumer `name` of `bucket`, if it exists.
pub async fn find_consumer<S: Store>(
    store: &S,
    bucket: &str,
    name: &str,
) -> Result<Option<ConsumerRecord>, Error> {
    let key = kv::keys::consumer(bucket, name);
    match store.get(&key).await? {
        Some(text) => kv::decode(&key, &text).map(Some),
        None => Ok(None),
    }
}

/// The consumer `name` of `bucket`, or a 404 error.
pub async fn consumer<S: Store>(
    store: &S,
    bucket: &str,
    name: &str,
) -> Result<ConsumerRecord, Error> {
    find_consumer(store, bucket, name).await?.ok_or_else(|| {
        Error::not_found(format!(
            "consumer '{name}' does not exist in bucket '{bucket}'"
        ))
    })
}

/// Reads many consumers of `bucket` with bulk reads; missing ones are `None`.
pub async fn consumers<S: Store>(
    store: &S,
    bucket: &str,
    names: &[String],
) -> Result<Vec<Option<ConsumerRecord>>, Error> {
    let keys: Vec<String> = names
        .iter()
        .map(|n| kv::keys::consumer(bucket, n))
        .collect();
    let texts = store.get_many(&keys).await?;
    keys.iter()
        .zip(texts)
        .map(|(key, text)| text.map(|t| kv::decode(key, &t)).transpose())
        .collect()
}

/// Every KV key under `prefix`, page by page.
pub async fn list_all<S: Store>(
    store: &S,
    prefix: &str,
) -> Result<Vec<crate::storage::store::ListEntry>, Error> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list(prefix, cursor.as_deref(), crate::storage::store::LIST_LIMIT)
            .await?;
        out.extend(page.entries);
        cursor = page.cursor;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// Names of the consumers `email` manages in `bucket`, per the index (sorted).
pub async fn managed_by<S: Store>(
    store: &S,
    bucket: &str,
    email: &str,
) -> Result<Vec<String>, Error> {
    let prefix = kv::keys::manager_prefix(bucket, email);
    Ok(list_all(store, &prefix)
        .await?
        .iter()
        .filter_map(|e| e.name.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect())
}

/// A consistency problem found by [`check_bucket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inconsistency {
    /// The KV key concerned, redacted ([`kv::keys::redacted`]).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// What [`check_bucket`] found, and the writes that would repair it.
#[derive(Debug, Clone, Default)]
pub struct BucketCheck {
    /// Each inconsistency.
    pub problems: Vec<Inconsistency>,
    /// Writes that make every derived entry match its consumer record again (the records
    /// are the source of truth): orphans deleted, missing or stale entries rewritten.
    pub repairs: Vec<Write>,
}

/// Checks that every derived entry of `bucket` matches a consumer record: no orphan
/// verification record or index entry, none missing, every verification record carrying its
/// consumer's current metadata and expiry, and KV metadata matching each record. Reads every
/// record of the bucket (list calls, one bulk read per 100 records): for tests and operators.
pub async fn check_bucket<S: Store>(store: &S, bucket: &str) -> Result<BucketCheck, Error> {
    let consumer_keys = list_all(store, &kv::keys::consumer_prefix(bucket)).await?;
    let names: Vec<String> = consumer_keys
        .iter()
        .filter_map(|e| kv::keys::consumer_name_of(bucket, &e.name))
        .map(str::to_owned)
        .collect();
    let records: Vec<ConsumerRecord> = consumers(store, bucket, &names)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let mut expected_keys = std::collections::BTreeMap::new();
    let mut expected_index = BTreeSet::new();
    for c in &records {
        for k in &c.keys {
            expected_keys.insert(kv::keys::key_hash(bucket, &k.hash), c.key_record(k));
        }
        expected_index.extend(
            c.managers
                .iter()
                .map(|m| kv::keys::manager(bucket, &m.email, &c.name)),
        );
    }
    let present_keys: BTreeSet<String> = list_all(store, &kv::keys::key_hash_prefix(bucket))
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let present_index: BTreeSet<String> = list_all(store, &kv::keys::manager_bucket_prefix(bucket))
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut out = BucketCheck::default();
    let mut report = |key: &str, problem: &str, repair: Write| {
        out.problems.push(Inconsistency {
            key: kv::keys::redacted(key),
            problem: problem.to_owned(),
        });
        out.repairs.push(repair);
    };
    for k in present_keys
        .iter()
        .filter(|k| !expected_keys.contains_key(*k))
    {
        report(
            k,
            "verification record of a key no consumer lists",
            Write::Delete { key: k.clone() },
        );
    }
    let shared: Vec<String> = expected_keys
        .keys()
        .filter(|k| present_keys.contains(*k))
        .cloned()
        .collect();
    let stored = store.get_many(&shared).await?;
    for (key, record) in &expected_keys {
        let repair = put(key.clone(), kv::encode(record), None);
        if !present_keys.contains(key) {
            report(
                key,
                "a listed key has no verification record (it cannot verify)",
                repair,
            );
        } else if let Some(pos) = shared.iter().position(|s| s == key) {
            let current = stored[pos]
                .as_deref()
                .and_then(|t| kv::decode::<kv::KeyRecord>(key, t).ok());
            if current.as_ref() != Some(record) {
                report(
                    key,
                    "verification record differs from its consumer (metadata or expiry)",
                    repair,
                );
            }
        }
    }
    for k in present_index.difference(&expected_index) {
        report(
            k,
            "manager index entry without a matching manager",
            Write::Delete { key: k.clone() },
        );
    }
    for k in expected_index.difference(&present_index) {
        report(
            k,
            "manager missing from the index",
            put(k.clone(), String::new(), None),
        );
    }
    for (entry, name) in consumer_keys.iter().zip(&names) {
        let Some(c) = records.iter().find(|c| &c.name == name) else {
            continue;
        };
        let index: Option<kv::ConsumerIndex> = entry
            .metadata
            .clone()
            .and_then(|m| serde_json::from_value(m).ok());
        if index.as_ref() != Some(&c.index()) {
            report(
                &entry.name,
                "KV metadata does not match the record",
                consumer_put(bucket, c),
            );
        }
    }
    Ok(out)
}
