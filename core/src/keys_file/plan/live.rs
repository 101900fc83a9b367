//! The live side of a plan: what the Worker holds for a bucket, read cheaply from `$index`
//! (names, digests, sources) and, only where needed, from full consumer records.

use crate::keys_file::model::ConsumerSpec;
use crate::storage::digest::consumer_digest;
use crate::storage::kv::Source;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What the Worker holds for one bucket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveBucket {
    /// Bucket name.
    pub name: String,
    /// Whether the bucket exists; a missing one is planned as a bucket create.
    pub exists: bool,
    /// Every consumer of the bucket, by name.
    pub consumers: BTreeMap<String, LiveConsumer>,
}

/// One live consumer as the `$index` endpoint shows it, plus its record when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConsumer {
    /// Who created it.
    pub source: Source,
    /// [`consumer_digest`] of its file-managed state, from KV metadata.
    pub digest: String,
    /// The full record; needed only when the digest differs from the file's (or for a
    /// delete's `lastSync`).
    pub record: Option<LiveRecord>,
}

/// The file-managed fields of a live consumer, read from the developer API's consumer JSON
/// (`GET …/consumers/{name}?include-managers=true`); other fields are ignored.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveRecord {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Metadata object.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Manager e-mails (lower-cased by the API).
    #[serde(default, deserialize_with = "manager_emails")]
    pub managers: Vec<String>,
    /// The last sync that changed it.
    #[serde(default)]
    pub last_sync: Option<LastSync>,
}

/// The last `keyward sync` that changed a consumer, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LastSync {
    /// Commit of `keys.yaml` applied, if it was known.
    #[serde(default)]
    pub commit: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// `managers` in API answers: `[{"email": …, …}]` (plain strings accepted too).
fn manager_emails<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Manager {
        Email(String),
        Full { email: String },
    }
    let list: Option<Vec<Manager>> = Option::deserialize(d)?;
    Ok(list
        .unwrap_or_default()
        .into_iter()
        .map(|m| match m {
            Manager::Email(e) | Manager::Full { email: e } => e,
        })
        .collect())
}

impl LiveRecord {
    /// The digest of this record's file-managed state (what `$index` shows for it).
    pub fn digest(&self) -> String {
        let managers: Vec<&str> = self.managers.iter().map(String::as_str).collect();
        consumer_digest(
            self.description.as_deref(),
            &self.metadata,
            &self.tags,
            &managers,
        )
    }

    /// The record as a file entry (what `keyward export` writes): managers sorted,
    /// an empty description dropped.
    pub fn to_spec(&self) -> ConsumerSpec {
        let mut managers = self.managers.clone();
        managers.sort();
        managers.dedup();
        ConsumerSpec {
            description: self.description.clone().filter(|d| !d.is_empty()),
            metadata: self.metadata.clone(),
            tags: self.tags.clone(),
            managers,
        }
    }
}

/// The digest of a consumer as the file declares it; equal to the live digest exactly when
/// a sync would leave the consumer unchanged.
///
/// The same text as [`consumer_digest`] (a test holds them equal), made without copying the
/// spec into a JSON value first: `plan` computes it for every consumer of the file.
pub fn spec_digest(spec: &ConsumerSpec) -> String {
    /// The canonical JSON [`consumer_digest`] hashes: its object's keys in name order.
    #[derive(serde::Serialize)]
    struct Canonical<'a> {
        description: &'a str,
        managers: Vec<String>,
        metadata: &'a Map<String, Value>,
        tags: &'a BTreeMap<String, String>,
    }
    let mut managers: Vec<String> = spec
        .managers
        .iter()
        .map(|m| crate::validate::email_key(m))
        .collect();
    managers.sort();
    managers.dedup();
    let canonical = Canonical {
        description: spec.description.as_deref().unwrap_or(""),
        managers,
        metadata: &spec.metadata,
        tags: &spec.tags,
    };
    let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    hash.iter()
        .take(8)
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `spec_digest` is `consumer_digest` of the same fields, whatever they hold.
    #[test]
    fn spec_digest_is_the_stored_digest() {
        let specs = [
            ConsumerSpec::default(),
            ConsumerSpec {
                description: Some(String::new()),
                ..ConsumerSpec::default()
            },
            ConsumerSpec {
                description: Some("Acme's \"orders\" ünïcødé 🎉 \u{7f}\n".into()),
                metadata: json!({"plan": "gold", "n": [1, -2, 1.5, 1e300, null, true], "o": {"z": {}, "a": []}, "": "k"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                tags: BTreeMap::from([("team".into(), "sales".into()), ("a.b".into(), "".into())]),
                managers: vec![
                    "B@X.example".into(),
                    "a@x.example".into(),
                    "b@x.example".into(),
                ],
            },
        ];
        for spec in specs {
            let managers: Vec<&str> = spec.managers.iter().map(String::as_str).collect();
            let stored = consumer_digest(
                spec.description.as_deref(),
                &spec.metadata,
                &spec.tags,
                &managers,
            );
            assert_eq!(spec_digest(&spec), stored, "{spec:?}");
        }
    }
}
