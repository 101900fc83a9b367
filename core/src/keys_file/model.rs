//! The model of `keys.yaml`: buckets and their consumers, as code, never keys.
//!
//! Plain serde types that [`check()`](super::check()) builds and [`super::to_yaml`] writes. With the
//! `schema` feature they also derive `schemars::JsonSchema`, and `json_schema` gives the JSON
//! Schema that editors use (`schemas/keys.schema.json`); the Worker does not enable the
//! feature, so it never compiles schemars.

use crate::validate::{BUCKET_NAME_LEN, MAX_CONSUMER_NAME, MAX_TAG_KEY};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The only format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A whole `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(
        title = "keys.yaml",
        description = "keyward's consumers as code: buckets, their consumers and who manages their keys. Never keys."
    )
)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    /// Format version of this file.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::version"))]
    pub version: u32,
    /// Buckets by name.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::buckets"))]
    pub buckets: BTreeMap<String, BucketSpec>,
}

/// A bucket in `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Free text about the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::description"))]
    pub description: Option<String>,
    /// Keep keys also encrypted so they can be shown again (`key-format=visible`; needs the
    /// Worker secret `KEY_ENCRYPTION_SECRET`). Applied when sync creates the bucket; a
    /// bucket's mode never changes, so a live bucket of the other mode is an error.
    #[serde(
        default,
        rename = "isRetrievable",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub is_retrievable: bool,
    /// Consumers by name.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::consumers"))]
    pub consumers: BTreeMap<String, ConsumerSpec>,
}

/// A consumer in `keys.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    /// Free text about the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::description"))]
    pub description: Option<String>,
    /// Forwarded on every verified request: a JSON object of at most
    /// [`MAX_METADATA_BYTES`](crate::validate::MAX_METADATA_BYTES) bytes serialized.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "schema::metadata", description = schema::metadata_description())
    )]
    pub metadata: Map<String, Value>,
    /// Labels for management queries (`tag.team=sales`); not forwarded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::tags"))]
    pub tags: BTreeMap<String, String>,
    /// E-mail addresses of the people who manage this consumer's keys.
    // `check` returns them trimmed and lower-cased, as the developer API stores them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::managers"))]
    pub managers: Vec<String>,
}

/// The fields each mapping of the file may have, in the order messages list them.
pub(super) const FILE_FIELDS: &[&str] = &["version", "buckets"];
pub(super) const BUCKET_FIELDS: &[&str] = &["description", "isRetrievable", "consumers"];
pub(super) const CONSUMER_FIELDS: &[&str] = &["description", "metadata", "tags", "managers"];

impl KeysFile {
    /// How many consumers the file declares, over all buckets.
    pub fn consumer_count(&self) -> usize {
        self.buckets.values().map(|b| b.consumers.len()).sum()
    }

    /// How many manager entries the file declares, over all consumers.
    pub fn manager_count(&self) -> usize {
        self.buckets
            .values()
            .flat_map(|b| b.consumers.values())
            .map(|c| c.managers.len())
            .sum()
    }
}
/// The pattern of a consumer name, as [`consumer_name`](crate::validate::consumer_name) checks it.
pub fn consumer_name_pattern() -> String {
    format!("^[a-z0-9-]{{1,{MAX_CONSUMER_NAME}}}$")
}

/// The pattern of a bucket name, as [`bucket_name`](crate::validate::bucket_name) checks it.
pub fn bucket_name_pattern() -> String {
    format!(
        "^[a-z0-9-]{{{},{}}}$",
        BUCKET_NAME_LEN.start(),
        BUCKET_NAME_LEN.end()
    )
}

/// The pattern of a tag key, as [`tags`](crate::validate::tags) checks it.
pub fn tag_key_pattern() -> String {
    format!("^[A-Za-z0-9_.-]{{1,{MAX_TAG_KEY}}}$")
}
/// The JSON Schema of `keys.yaml` (draft 2020-12), as `keyward schema` prints it and
/// `schemas/keys.schema.json` holds it.
///
/// It states what a schema can: version, names (as `propertyNames`), e-mail format, types,
/// lengths and counts, unknown fields, the shapes of `metadata.rateLimit` and
/// `metadata.quota`. The byte-size limits of metadata and tags, and duplicate e-mails after
/// lower-casing, are left to [`check()`](super::check()).
#[cfg(feature = "schema")]
pub fn json_schema() -> Value {
    schemars::schema_for!(KeysFile).to_value()
}

/// The hand-written parts of the schema, from the constants of [`crate::validate`].
#[cfg(feature = "schema")]
mod schema {
    use super::*;
    use crate::policy::{MAX_PERIOD_SECONDS, MAX_REQUESTS};
    use crate::validate::{
        MAX_DESCRIPTION, MAX_MANAGERS, MAX_METADATA_BYTES, MAX_TAGS, MAX_TAG_VALUE,
    };
    use schemars::{json_schema, Schema, SchemaGenerator};

    pub fn version(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "const": FORMAT_VERSION })
    }

    pub fn buckets(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": bucket_name_pattern() },
            "additionalProperties": generator.subschema_for::<BucketSpec>(),
        })
    }

    pub fn consumers(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": consumer_name_pattern() },
            "additionalProperties": generator.subschema_for::<ConsumerSpec>(),
        })
    }

    pub fn description(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "null"], "maxLength": MAX_DESCRIPTION })
    }

    /// Free-form, but for the two fields keyward reads as the consumer's limits
    /// ([`crate::policy`]).
    pub fn metadata(_: &mut SchemaGenerator) -> Schema {
        let count = json_schema!({ "type": "integer", "minimum": 1, "maximum": MAX_REQUESTS });
        json_schema!({
            "type": "object",
            "properties": {
                "rateLimit": {
                    "description": "The consumer's rate limit: at most N requests in any sliding window of a minute, or of periodSeconds (1 to 3600).",
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": { "requestsPerMinute": count },
                            "required": ["requestsPerMinute"],
                            "additionalProperties": false,
                        },
                        {
                            "type": "object",
                            "properties": {
                                "requests": count,
                                "periodSeconds": { "type": "integer", "minimum": 1, "maximum": MAX_PERIOD_SECONDS },
                            },
                            "required": ["requests", "periodSeconds"],
                            "additionalProperties": false,
                        },
                    ],
                },
                "quota": {
                    "description": "The consumer's quota: at most N requests per calendar day or month in UTC.",
                    "type": "object",
                    "properties": {
                        "requests": count,
                        "period": { "enum": ["day", "month"] },
                    },
                    "required": ["requests", "period"],
                    "additionalProperties": false,
                },
            },
        })
    }

    pub fn metadata_description() -> String {
        format!(
            "Forwarded to the upstream on every verified request: a JSON object of at most {MAX_METADATA_BYTES} bytes serialized. Free-form but for rateLimit and quota, the consumer's limits."
        )
    }

    pub fn tags(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "maxProperties": MAX_TAGS,
            "propertyNames": { "pattern": tag_key_pattern() },
            "additionalProperties": { "type": "string", "maxLength": MAX_TAG_VALUE },
        })
    }

    pub fn managers(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "maxItems": MAX_MANAGERS,
            "uniqueItems": true,
            "items": { "type": "string", "format": "email" },
        })
    }
}
