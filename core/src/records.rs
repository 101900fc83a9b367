//! Reading and writing keyward's records through a [`Store`], in a crash-safe order.
//!
//! Writes are ordered so that an interruption never leaves a key that verifies but that no
//! consumer lists: the consumer record (listing the key's hash) is written before the key's
//! verification record, and on removal the verification record goes first. Rerunning an
//! interrupted operation converges.

use crate::cache::VerifyCache;
use crate::error::{Error, ErrorKind};
use crate::kv::{self, BucketRecord, ConsumerRecord, StoredKey};
use crate::store::Store;

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

/// Adds index entries for `emails` as managers of consumer `consumer`.
pub async fn put_manager_index<S: Store>(
    store: &S,
    bucket: &str,
    consumer: &str,
    emails: &[&str],
) -> Result<(), Error> {
    for email in emails {
        store
            .put(&kv::keys::manager(bucket, email, consumer), "", None)
            .await?;
    }
    Ok(())
}

/// Removes the index entries of `emails` for consumer `consumer`.
pub async fn delete_manager_index<S: Store>(
    store: &S,
    bucket: &str,
    consumer: &str,
    emails: &[&str],
) -> Result<(), Error> {
    for email in emails {
        store
            .delete(&kv::keys::manager(bucket, email, consumer))
            .await?;
    }
    Ok(())
}

/// Names of the consumers `email` manages in `bucket`, per the index (sorted).
pub async fn managed_by<S: Store>(
    store: &S,
    bucket: &str,
    email: &str,
) -> Result<Vec<String>, Error> {
    let prefix = kv::keys::manager_prefix(bucket, email);
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list(&prefix, cursor.as_deref(), crate::store::LIST_LIMIT)
            .await?;
        names.extend(
            page.entries
                .iter()
                .filter_map(|e| e.name.strip_prefix(&prefix))
                .map(str::to_owned),
        );
        cursor = page.cursor;
        if cursor.is_none() {
            return Ok(names);
        }
    }
}

/// Writes a consumer record with its index metadata.
pub async fn put_consumer<S: Store>(
    store: &S,
    bucket: &str,
    c: &ConsumerRecord,
) -> Result<(), Error> {
    let metadata = serde_json::to_value(c.index())
        .map_err(|e| Error::new(ErrorKind::Corrupt, format!("consumer index: {e}")))?;
    store
        .put(
            &kv::keys::consumer(bucket, &c.name),
            &kv::encode(c),
            Some(&metadata),
        )
        .await
}

/// Writes the verification record of each of `keys` (keys of consumer `c`).
pub async fn put_key_records<S: Store>(
    store: &S,
    cache: &VerifyCache,
    bucket: &str,
    c: &ConsumerRecord,
    keys: &[&StoredKey],
) -> Result<(), Error> {
    for k in keys {
        let kv_key = kv::keys::key_hash(bucket, &k.hash);
        store
            .put(&kv_key, &kv::encode(&c.key_record(k)), None)
            .await?;
        cache.forget(&kv_key);
    }
    Ok(())
}

/// Removes the verification records of `keys` and drops them from this isolate's cache.
pub async fn delete_key_records<S: Store>(
    store: &S,
    cache: &VerifyCache,
    bucket: &str,
    keys: &[&StoredKey],
) -> Result<(), Error> {
    for k in keys {
        let kv_key = kv::keys::key_hash(bucket, &k.hash);
        store.delete(&kv_key).await?;
        cache.forget(&kv_key);
    }
    Ok(())
}

/// Deletes a consumer: its keys' verification records first, then the record, then its
/// manager index entries.
pub async fn delete_consumer<S: Store>(
    store: &S,
    cache: &VerifyCache,
    bucket: &str,
    c: &ConsumerRecord,
) -> Result<(), Error> {
    let keys: Vec<&StoredKey> = c.keys.iter().collect();
    delete_key_records(store, cache, bucket, &keys).await?;
    store.delete(&kv::keys::consumer(bucket, &c.name)).await?;
    let emails: Vec<&str> = c.managers.iter().map(|m| m.email.as_str()).collect();
    delete_manager_index(store, bucket, &c.name, &emails).await
}
