//! The KV layout: every key pattern keyward reads or writes in KV, and the records — the same
//! JSON the bucket tables keep (see [`crate::storage::bucket`]).
//!
//! This is the only module that builds KV key strings. ARCHITECTURE.md has the same table
//! with examples. Every record carries `v` (the schema version); a reader refuses versions it
//! does not know rather than guessing.
//!
//! | key | value | written by |
//! | --- | --- | --- |
//! | `k:{bucket}:{hash}` | [`KeyRecord`]: what the edge forwards | the bucket object's outbox |
//! | `b:{bucket}` | [`BucketRecord`] | the old KV-only layout: imported once, then deleted |
//! | `c:{bucket}:{consumer}` | [`ConsumerRecord`], KV metadata [`ConsumerIndex`] | the old layout, likewise |
//! | `m:{bucket}:{email}:{consumer}` | empty: `email` manages `consumer` | the old layout, likewise |
//!
//! Names of buckets and consumers are `[a-z0-9-]`, hashes base64url and e-mails exclude `:`,
//! so `:` never occurs inside a component and prefixes list exactly one bucket (or manager).

use crate::error::{Error, ErrorKind};
use crate::timestamp::Millis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The schema version written in every record.
pub const SCHEMA_VERSION: u32 = 1;

/// The version of a record an older build must not rewrite: a retrievable bucket's, or a
/// consumer's holding encrypted keys. Those builds ignore fields they do not know, so a
/// rewrite would turn the bucket hash-only or drop the keys' encrypted copies; this version
/// makes them refuse the record instead (a rollback then fails loudly for those buckets and
/// only those). Verification records (`k:`) stay at [`SCHEMA_VERSION`]: the edge of any
/// build reads them.
pub const SEALED_SCHEMA_VERSION: u32 = 2;

/// KV key builders. Nothing else in keyward formats a KV key.
pub mod keys {
    /// The record of bucket `bucket`.
    pub fn bucket(bucket: &str) -> String {
        format!("b:{bucket}")
    }

    /// Prefix of every bucket record.
    pub const BUCKET_PREFIX: &str = "b:";

    /// The record of consumer `consumer` in `bucket`.
    pub fn consumer(bucket: &str, consumer: &str) -> String {
        format!("c:{bucket}:{consumer}")
    }

    /// Prefix of every consumer record of `bucket`.
    pub fn consumer_prefix(bucket: &str) -> String {
        format!("c:{bucket}:")
    }

    /// The verification record of the key whose hash is `hash`, in `bucket`.
    pub fn key_hash(bucket: &str, hash: &str) -> String {
        format!("k:{bucket}:{hash}")
    }

    /// Prefix of every verification record of `bucket`.
    pub fn key_hash_prefix(bucket: &str) -> String {
        format!("k:{bucket}:")
    }

    /// Index entry: `email` manages `consumer` in `bucket` (empty value).
    pub fn manager(bucket: &str, email: &str, consumer: &str) -> String {
        format!("m:{bucket}:{email}:{consumer}")
    }

    /// Prefix of every manager index entry of `bucket`.
    pub fn manager_bucket_prefix(bucket: &str) -> String {
        format!("m:{bucket}:")
    }

    /// Prefix of the index entries of the consumers `email` manages in `bucket`.
    pub fn manager_prefix(bucket: &str, email: &str) -> String {
        format!("m:{bucket}:{email}:")
    }

    /// `kv_key` for logs, errors and reports: a verification record's key hash is cut to its
    /// first 8 characters (enough to tell records apart, useless to look one up); other keys
    /// are unchanged.
    ///
    /// ```
    /// use keyward_core::storage::kv::keys;
    /// assert_eq!(keys::redacted("k:default:AbCdEfGhIjKlMnOp"), "k:default:AbCdEfGh…");
    /// assert_eq!(keys::redacted("c:default:acme"), "c:default:acme");
    /// assert_eq!(keys::redacted("m:default:ann@example.com:acme"), "m:default:…");
    /// ```
    pub fn redacted(kv_key: &str) -> String {
        // A manager index entry names an e-mail: personal data, kept out of logs.
        if let Some(rest) = kv_key.strip_prefix("m:") {
            let bucket = rest.split(':').next().unwrap_or_default();
            return format!("m:{bucket}:…");
        }
        match kv_key
            .strip_prefix("k:")
            .and_then(|rest| rest.split_once(':'))
        {
            Some((bucket, hash)) if hash.len() > 8 && hash.is_char_boundary(8) => {
                format!("k:{bucket}:{}…", &hash[..8])
            }
            _ => kv_key.to_owned(),
        }
    }

    /// The consumer name in a consumer record's KV key, if `kv_key` is one.
    pub fn consumer_name_of<'a>(bucket: &str, kv_key: &'a str) -> Option<&'a str> {
        kv_key
            .strip_prefix("c:")?
            .strip_prefix(bucket)?
            .strip_prefix(':')
    }

    /// The bucket name in a bucket record's KV key, if `kv_key` is one.
    pub fn bucket_name_of(kv_key: &str) -> Option<&str> {
        kv_key.strip_prefix(BUCKET_PREFIX)
    }
}

/// The record the edge reads to verify a key: one read gives everything it forwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// Schema version.
    pub v: u32,
    /// Name of the consumer (the identity's `sub`).
    pub consumer: String,
    /// Id of the key.
    pub key_id: String,
    /// The consumer's metadata, forwarded upstream.
    pub metadata: Map<String, Value>,
    /// When the key stops verifying, if ever.
    pub expires_on: Option<Millis>,
}

/// Who created a consumer: the developer API/portal, or `keys.yaml` through sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Created through the developer API or the portal; `sync --prune` never deletes it.
    #[default]
    Api,
    /// Created by `keyward sync` from `keys.yaml`.
    File,
}

/// A key as its consumer record keeps it: the hash, never the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredKey {
    /// Key id (`key_…`).
    pub id: String,
    /// `HMAC-SHA256(KEY_HASH_SECRET, key)`; locates the [`KeyRecord`].
    pub hash: String,
    /// Masked form shown in lists (prefix and last 6 characters).
    pub masked: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Expiry, if any.
    pub expires_on: Option<Millis>,
    /// Creation time.
    pub created_on: Millis,
    /// Last change.
    pub updated_on: Millis,
    /// The key encrypted (`key::sealed`), in retrievable buckets only: `key-format=visible`
    /// opens it. Only in the tables, like the rest of this record; never in KV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// The manager who created it through `/v1/me` (their e-mail); none for admins' keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Set when the key was reported leaked (`POST /v1/leaks`). Only in the tables: the
    /// edge's [`KeyRecord`] does not carry it (a revoked key's expiry does the work there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Leak>,
}

/// Longest [`Leak::at`] kept, in bytes: a URL or a source name, not a document.
pub const LEAKED_AT_MAX: usize = 2048;

/// A leak report recorded on a key: the first report's time and place are kept, so that a
/// scanner reporting the same key on every run changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    /// When the first report came in.
    pub on: Millis,
    /// Where the key was found (the report's `url`, else its `source`), at most
    /// [`LEAKED_AT_MAX`] bytes; filled by a later report when the first named no place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// A manager of a consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagerRecord {
    /// Manager id (`eusr_…`).
    pub id: String,
    /// Lower-cased e-mail.
    pub email: String,
    /// Subject at the identity provider, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// When the manager was added.
    pub created_on: Millis,
}

/// The last `keyward sync` that changed a consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStamp {
    /// Commit of `keys.yaml` that was applied.
    pub commit: Option<String>,
    /// When it was applied.
    pub at: Millis,
}

/// A consumer with its keys (hashed) and managers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRecord {
    /// Schema version.
    pub v: u32,
    /// Consumer id (`csmr_…`).
    pub id: String,
    /// Unique name in the bucket.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Forwarded on every verified request.
    pub metadata: Map<String, Value>,
    /// For management queries only; never forwarded.
    pub tags: BTreeMap<String, String>,
    /// Who may manage the keys.
    pub managers: Vec<ManagerRecord>,
    /// The keys, hashed.
    pub keys: Vec<StoredKey>,
    /// Creation time.
    pub created_on: Millis,
    /// Last change.
    pub updated_on: Millis,
    /// Who created it.
    #[serde(default)]
    pub source: Source,
    /// The last sync that changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SyncStamp>,
}

/// What a consumer record's KV metadata holds, for listing without reading records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerIndex {
    /// Schema version.
    pub v: u32,
    /// Tags, for `tag.<k>=<v>` filters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub t: BTreeMap<String, String>,
    /// [`consumer_digest`](crate::storage::digest::consumer_digest) of the file-managed
    /// state, for `plan` at scale.
    #[serde(default)]
    pub d: String,
    /// Who created the consumer.
    #[serde(default)]
    pub s: Source,
}

impl ConsumerRecord {
    /// The KV metadata stored alongside this record.
    pub fn index(&self) -> ConsumerIndex {
        ConsumerIndex {
            v: SCHEMA_VERSION,
            t: self.tags.clone(),
            d: self.digest(),
            s: self.source,
        }
    }

    /// The digest of the file-managed state (description, metadata, tags, managers).
    pub fn digest(&self) -> String {
        let emails: Vec<&str> = self.managers.iter().map(|m| m.email.as_str()).collect();
        crate::storage::digest::consumer_digest(
            self.description.as_deref(),
            &self.metadata,
            &self.tags,
            &emails,
        )
    }

    /// The verification record of one of this consumer's keys.
    pub fn key_record(&self, key: &StoredKey) -> KeyRecord {
        KeyRecord {
            v: SCHEMA_VERSION,
            consumer: self.name.clone(),
            key_id: key.id.clone(),
            metadata: self.metadata.clone(),
            expires_on: key.expires_on,
        }
    }
}

/// A bucket: a named set of consumers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketRecord {
    /// Schema version.
    pub v: u32,
    /// Bucket id (`bckt_…`).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form tags.
    pub tags: BTreeMap<String, String>,
    /// Keys are also kept encrypted (`isRetrievable`); fixed at creation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retrievable: bool,
    /// Creation time.
    pub created_on: Millis,
    /// Last change.
    pub updated_on: Millis,
}

impl BucketRecord {
    /// The version to write it with: [`SEALED_SCHEMA_VERSION`] when retrievable.
    pub fn with_version(&self) -> BucketRecord {
        BucketRecord {
            v: if self.retrievable {
                SEALED_SCHEMA_VERSION
            } else {
                SCHEMA_VERSION
            },
            ..self.clone()
        }
    }
}

impl ConsumerRecord {
    /// The version to write it with: [`SEALED_SCHEMA_VERSION`] when a key has an encrypted
    /// copy.
    pub fn schema_version(&self) -> u32 {
        if self.keys.iter().any(|k| k.sealed.is_some()) {
            SEALED_SCHEMA_VERSION
        } else {
            SCHEMA_VERSION
        }
    }
}

/// Reads a record, refusing unknown schema versions.
pub fn decode<T: serde::de::DeserializeOwned>(kv_key: &str, text: &str) -> Result<T, Error> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version = serde_json::from_str(text).map_err(|e| {
        Error::new(
            ErrorKind::Corrupt,
            format!("record '{}' is not readable: {e}", keys::redacted(kv_key)),
        )
    })?;
    if version.v != SCHEMA_VERSION && version.v != SEALED_SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "record '{}' has schema version {}, this build reads {SCHEMA_VERSION}",
                keys::redacted(kv_key),
                version.v
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        Error::new(
            ErrorKind::Corrupt,
            format!("record '{}' is not readable: {e}", keys::redacted(kv_key)),
        )
    })
}

/// Serializes a record for KV.
pub fn encode<T: Serialize>(record: &T) -> String {
    // Records are plain structs of strings, numbers and maps with string keys: serializing
    // them cannot fail.
    serde_json::to_string(record).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_patterns() {
        assert_eq!(keys::consumer("default", "acme"), "c:default:acme");
        assert_eq!(
            keys::consumer_name_of("default", "c:default:acme"),
            Some("acme")
        );
        assert_eq!(keys::consumer_name_of("default", "c:defaultx:acme"), None);
        assert_eq!(keys::key_hash("default", "abc"), "k:default:abc");
    }

    #[test]
    fn refuses_unknown_versions() {
        let err = decode::<KeyRecord>("k:x:y", r#"{"v":9}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
    }
}
