//! The model of `keys.yaml`: buckets and their consumers, as code. Never keys.
//!
//! The CLI parses the YAML into these types (with positions for errors); core owns the
//! shape so the same rules apply to the file and to the developer API.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The only format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A whole `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    /// Format version; must be [`FORMAT_VERSION`].
    pub version: u32,
    /// Buckets by name.
    #[serde(default)]
    pub buckets: BTreeMap<String, BucketSpec>,
}

/// A bucket in `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Consumers by name.
    #[serde(default)]
    pub consumers: BTreeMap<String, ConsumerSpec>,
}

/// A consumer in `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Forwarded on every verified request (a JSON object, ≤ 1024 bytes serialized).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// For management queries only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// E-mails of the people who manage this consumer's keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<String>,
}
